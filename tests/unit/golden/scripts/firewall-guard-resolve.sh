set -e
true
