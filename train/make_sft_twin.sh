#!/usr/bin/env bash
# Rebuild the plain-SFT twin public/models/msn-code-tiny-sft/ (runs the stages it needs). See run_tiny.sh.
exec "$(dirname "$0")/run_tiny.sh" sft-twin
