"""The census: find and attribute devices from what they answer anyone, without sending any credential."""
