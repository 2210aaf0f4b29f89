"""Prints the mails of a Maildir (as aiosmtpd's Mailbox handler writes them) as JSON, decoded
by Python's own e-mail parser — a reader that is not lettre: each with its raw Subject header,
the Subject decoded (RFC 2047), Message-ID, From, To, and the text and HTML parts.

    read_maildir.py DIR
"""
import email
import email.policy
import json
import mailbox
import os
import sys


def main():
    mails = []
    if not os.path.isdir(os.path.join(sys.argv[1], "new")):
        # aiosmtpd's Mailbox handler makes the Maildir when the first mail arrives.
        json.dump(mails, sys.stdout)
        return
    for message in mailbox.Maildir(sys.argv[1], factory=None, create=False):
        raw = message.as_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        raw_subject = email.message_from_bytes(raw, policy=email.policy.compat32)["Subject"]
        parts = {}
        for part in parsed.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_subtype()] = part.get_content()
        mails.append({
            "raw_subject": str(raw_subject),
            "subject": str(parsed["Subject"]),
            "message_id": str(parsed["Message-ID"]),
            "from": str(parsed["From"]),
            "to": [str(a) for a in parsed.get_all("To", [])],
            "text": parts.get("plain", ""),
            "html": parts.get("html", ""),
        })
    json.dump(mails, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
