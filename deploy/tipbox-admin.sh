#!/bin/sh
# Run `python -m tipbox ...` as the service user, with the services'
# environment and sandbox basics. Install as /usr/local/sbin/tipbox
# (docs/deploy.md); then e.g. `tipbox doctor`, `tipbox backup FILE`.
set -eu
exec systemd-run --quiet --pty --wait --collect \
	--property=User=tipbox --property=Group=tipbox --property=UMask=0077 \
	--property=EnvironmentFile=/etc/tipbox/tipbox.env \
	--property=WorkingDirectory=/opt/tipbox \
	--property=NoNewPrivileges=yes --property=PrivateTmp=yes \
	--property=MemorySwapMax=0 --property=LimitCORE=0 \
	/opt/tipbox/.venv/bin/python -m tipbox "$@"
