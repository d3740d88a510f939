#!/usr/bin/env python3
"""Rebuilds the demo scenario in this folder from the gromox captures in
tests/fixtures/wire/gromox-captures/. Every transformation is listed in
PROVENANCE.md; run it from anywhere: python3 samples/demo/make_demo.py"""
import pathlib
import re

here = pathlib.Path(__file__).resolve().parent
wire = here.parent.parent / "tests" / "fixtures" / "wire" / "gromox-captures"
scen = here.parent.parent / "tests" / "fixtures" / "scenarios" / "gromox-stream-and-fetch"

FOLDER = "AAAAAOAkrrjUqXBLg6exWUisHu4BAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAI="
PREFIX = "AAAAAOAkrrjUqXBLg6exWUisHu4HAAEAAAClGHtvvNzqHtA8VlcAAAAAAA0AAAEAAAClGHtvvNzqHtA8VlcAAAAD"
# (id suffix, NewMailEvent TimeStamp from the captured stream, ChangeKey, sender, subject, body, Date)
MAILS = [
    ("AAAAAAM=", "2026-11-22T17:54:23.274342477Z", "AQAAAKUYe2+83Ooe0DxWVwAAAAAAHg==", "bob@sender.test",
     "EWS streaming test 1", None, "2026-11-22T17:54:23Z"),
    ("AAEAAAM=", "2026-11-22T17:54:42.179802093Z", "AQAAAKUYe2+83Ooe0DxWVwAAAAAAHw==", "carol@sender.test",
     "EWS streaming test 2", "Second message.\n\n", "2026-11-22T17:54:42Z"),
    ("AAIAAAM=", "2026-11-22T17:57:56.660943086Z", None, "dave@sender.test",
     "EWS streaming test 3", None, None),
    ("AAMAAAM=", "2026-11-22T18:00:08.260362529Z", "AQAAAKUYe2+83Ooe0DxWVwAAAAAAIQ==", "erin@sender.test",
     "EWS streaming test 4 (queued while disconnected)", "Fourth message.\n\n", "2026-11-22T18:00:08Z"),
]

def read(p):
    return p.read_text()

keepalive = read(scen / "stream.chunk-01.xml")          # 02-getstreamingevents, envelope 1
delivery = read(scen / "stream.chunk-02.xml")           # 02-getstreamingevents, envelope 2
closed = read(scen / "stream.chunk-05.xml")             # 02-getstreamingevents, last envelope
getitem = read(wire / "04-getitem.response.xml")
not_found_form = read(wire / "04a-getitem-empty-id-error.response.xml")

# NewMail only: a subscription to NewMail gets no Created/Modified events.
newmail_only = re.sub(r"\s*<t:CreatedEvent>.*?</t:CreatedEvent>", "", delivery, flags=re.S)
newmail_only = re.sub(r"\s*<t:ModifiedEvent>.*?</t:ModifiedEvent>", "", newmail_only, flags=re.S)
old_id = PREFIX + MAILS[0][0]

files = {"subscribe.response.xml": read(wire / "01-subscribe.response.xml"),
         "unsubscribe.response.xml": read(wire / "08-unsubscribe.response.xml"),
         "keepalive.xml": keepalive, "closed.xml": closed}
for n, (suffix, stamp, ck, sender, subject, body, date) in enumerate(MAILS, 1):
    env = newmail_only.replace(old_id, PREFIX + suffix)
    env = re.sub(r"(<t:NewMailEvent>\s*<t:TimeStamp>)[^<]*", lambda m: m.group(1) + stamp, env)
    files[f"newmail-{n}.xml"] = env
    if ck is None:
        # The item was deleted before GetItem: gromox's error form (04a) with
        # the ResponseCode and MessageText Exchange gives for a missing item.
        resp = not_found_form.replace("E-3149: failed to deserialize item entry id",
                                      "The specified object was not found in the store.")
        resp = resp.replace("ErrorInvalidId", "ErrorItemNotFound")
        files[f"getitem-{n}.response.xml"] = resp
        continue
    resp = getitem.replace(old_id, PREFIX + suffix)
    resp = resp.replace('ChangeKey="AQAAAKUYe2+83Ooe0DxWVwAAAAAAHg=="', f'ChangeKey="{ck}"')
    resp = resp.replace("EWS streaming test 1", subject).replace("bob@sender.test", sender)
    resp = resp.replace("2026-11-22T17:54:23Z", date)
    if body is not None:
        resp = re.sub(r'(<t:Body BodyType="Text">).*?(</t:Body>)', lambda m: m.group(1) + body + m.group(2),
                      resp, flags=re.S)
    files[f"getitem-{n}.response.xml"] = resp

for name, text in files.items():
    (here / name).write_text(text)
