# shellcheck shell=bash disable=SC2016 # the backticks are Markdown code spans, printed as is
# Values arrive only through env:, never as GitHub expressions in this script:
# the branch name is user input.
set -euo pipefail
branch="${BUILD_FROM_BRANCH:-$GITHUB_REF_NAME}"
{
  echo '## 🚀 Docker Image Build Summary'
  echo ''
  echo '**Status**: ✅ Success'
  echo ''
  echo '### Image Details'
  printf -- '- **Primary Tag**: `%s`\n' "$PRIMARY_TAG"
  printf -- '- **Digest**: `%s`\n' "$DIGEST"
  printf -- '- **Commit**: `%s`\n' "$SHORT_SHA"
  printf -- '- **Date**: `%s`\n' "$BUILD_DATE"
  printf -- '- **Branch**: `%s`\n' "$branch"
  echo ''
  echo '### All Tags'
  echo '```'
  printf '%s\n' "$ALL_TAGS"
  echo '```'
  echo ''
  echo '### Usage'
  echo '```bash'
  echo '# Pull this image'
  printf 'docker pull %s\n' "$PRIMARY_TAG"
  echo '```'
} >> "$GITHUB_STEP_SUMMARY"
