#!/bin/sh
# Generates ./configure from configure.ac (needs autoconf, automake, libtool
# and dovecot-dev for the DC_* macros).
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf -fi
