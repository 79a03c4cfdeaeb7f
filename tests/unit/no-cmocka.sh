#!/bin/sh
# Stands in for the unit tests when configure found no cmocka: fail loudly
# rather than pass without testing anything.
echo "the unit tests need cmocka: apt-get install libcmocka-dev, then ./configure again" >&2
exit 99
