"""Receiving Salesforce Outbound Messages: parsing, answering and scrubbing SOAP payloads, and
reading the field values they carry (values.py)."""
