"""The camfleet wire contract (camfleet.v1 protobuf) and its helpers for topics, envelopes and signatures."""

from protos.camfleet.v1 import camfleet_pb2 as pb

__all__ = ["pb"]
