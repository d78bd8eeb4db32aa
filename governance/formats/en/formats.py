"""English dates and times with a 24-hour clock, as the Chinese pages and the township's
staff read them. Django's own "5 p.m." also ended sentences in a second full stop ("It is
now due Dec. 8, 2026, 5 p.m.."). What is not set here is Django's English format."""

TIME_FORMAT = "H:i"
DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATETIME_FORMAT = "m/d/Y H:i"
