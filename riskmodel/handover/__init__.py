"""riskmodel.handover: one student's file from one centre to another (跨校、跨学段交接).

* :mod:`~riskmodel.handover.keys`: a centre's key pair (Ed25519 to sign, X25519 to receive);
* :mod:`~riskmodel.handover.seal`: the envelope (sign, then encrypt for one recipient);
* :mod:`~riskmodel.handover.packet`: what a packet holds, export and import;
* :mod:`~riskmodel.handover.summary`: the summary for the receiving school;
* :mod:`~riskmodel.handover.loinc`: PHQ-9 and GAD-7 LOINC codes.

docs/handover.md says what the packet holds, who can read it, and how keys are made and kept.
"""

from riskmodel.handover.keys import HandoverError, init_keys, load_keys, load_public
from riskmodel.handover.packet import export_packet, import_packet

__all__ = ["HandoverError", "export_packet", "import_packet", "init_keys", "load_keys", "load_public"]
