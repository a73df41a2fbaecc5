#!/bin/bash
# contrib/gcp: the custom role, startup script, cloud-init user data and
# Terraform checked offline (contrib/gcp/validate.py), including `cloudroute
# check` on every embedded configuration.  Changes nothing.
. "$(dirname "$0")/../lib/netns.sh"
check "contrib/gcp validates" python3 -B "$TOP/contrib/gcp/validate.py" --cloudroute "$CLOUDROUTE"
finish
