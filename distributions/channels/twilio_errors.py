"""What Twilio's common messaging error codes mean, for people reading an SMS Failed status.

Source: Twilio's error and warning dictionary, https://www.twilio.com/docs/api/errors (each code
has its page, https://www.twilio.com/docs/api/errors/<code>). A code not listed here is shown
with a link to its page.
"""

TWILIO_ERRORS = {
    # Refused when the text was created (API answer).
    "21211": "Invalid 'To' phone number.",
    "21408": "Permission to send an SMS has not been enabled for the region of this number.",
    "21610": "The recipient replied STOP: Twilio blocks texts to them until they reply START.",
    "21612": "Twilio cannot route a text from this sender to this number.",
    "21614": "The 'To' number is not a valid mobile number.",
    "21617": "The message body is longer than 1,600 characters.",
    # Delivery failures (status callbacks: undelivered or failed).
    "30001": "Queue overflow: too many texts were queued at once; try again later.",
    "30002": "The Twilio account is suspended.",
    "30003": "Unreachable destination handset: the phone is off or out of coverage.",
    "30004": "Message blocked: by the recipient, or by the carrier.",
    "30005": "Unknown destination handset: the number does not exist or is no longer in service.",
    "30006": "Landline or unreachable carrier: the number cannot receive texts.",
    "30007": "Filtered by the carrier as spam or as violating its rules.",
    "30008": "Unknown error from the carrier.",
    "30010": "The message price exceeds the maximum price set for it.",
    "30022": "US A2P 10DLC: the campaign's rate limits were exceeded.",
    "30032": "The toll-free sender number has not been verified.",
    "30034": "US A2P 10DLC: the sender number is not registered to a campaign.",
}


def twilio_error_meaning(code: str) -> str:
    """A Twilio ErrorCode -> what it means, e.g. "30003" -> "Unreachable destination handset: ..."."""
    code = str(code).strip()
    if not code:
        return ""
    meaning = TWILIO_ERRORS.get(code)
    return (
        f"Twilio error {code}: {meaning}"
        if meaning
        else f"Twilio error {code}: see https://www.twilio.com/docs/api/errors/{code}"
    )
