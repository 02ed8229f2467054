"""Receiving Salesforce Outbound Messages: parsing, answering and scrubbing SOAP payloads."""
