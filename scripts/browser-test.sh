#!/usr/bin/env bash
# Installs Debian's chromium when it is missing (needs root and apt), then runs the report tests,
# including the headless-browser one (tests/report_browser.rs), which skips with a message when
# chromium is still absent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "browser-test: installing chromium with apt-get" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; } \
            || echo "browser-test: could not install chromium; the browser test will skip" >&2
    else
        echo "browser-test: chromium missing and not root; the browser test will skip" >&2
    fi
fi

cargo test --test integration -- --nocapture report_browser:: report_html:: report_exports:: report_compare:: "$@"
