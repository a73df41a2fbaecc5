#!/bin/bash
# Runs the fake cloud's self-test (tests/fakecloud/selftest.sh) so that the
# integration runner picks it up: IMDSv2, SigV4 verification, the EC2
# operations, fault knobs and the request log, all inside one namespace.
exec bash "$(dirname "$0")/../fakecloud/selftest.sh" "$@"
