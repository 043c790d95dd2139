"""Talking to the Luxtronik 2 controller: wire protocol, client, sensor catalogue."""
