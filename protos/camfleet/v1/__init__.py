"""Generated protobuf code for the camfleet.v1 wire contract (regenerate with `python -m protos.codegen`)."""
