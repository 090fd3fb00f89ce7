# shellcheck shell=bash
# Inputs arrive only through env:, never as GitHub expressions in this script,
# so a crafted version_tag stays data and cannot become shell code.
set -euo pipefail
export LC_ALL=C  # ASCII ranges in the regexes below, whatever the runner's locale

# Push events have no inputs: the primary tag is then "latest", as in the setup guide.
version="${VERSION_TAG:-latest}"

# Docker's tag grammar. Checked before anything is printed or written.
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
if [[ ! "$version" =~ $tag_re ]]; then
  echo "::error title=Invalid version_tag::version_tag must match ${tag_re} (Docker tag rules)"
  exit 1
fi

sha_re='^([0-9a-f]{40}|[0-9a-f]{64})$'
if [[ ! "$COMMIT_SHA" =~ $sha_re ]]; then
  echo "::error title=Unknown commit::actions/checkout did not report the commit it checked out"
  exit 1
fi
if [[ -z "$REGISTRY" ]]; then
  echo "::error title=Unknown registry::amazon-ecr-login did not report the ECR registry"
  exit 1
fi

# The SHA and date of the commit actually built (build_from_branch may differ from the ref
# this run was started on).
short_sha="${COMMIT_SHA:0:7}"
build_date="$(date -u +%Y-%m-%d)"
image="${REGISTRY}/${ECR_REPOSITORY}"

tags=("$version" "${version}-${short_sha}" "${version}-${build_date}")
if [[ "${PUSH_LATEST:-false}" == "true" && "$version" != "latest" ]]; then
  tags+=("latest")
fi
# The suffixed tags must still fit Docker's 128-character limit: "-YYYY-MM-DD" is the longest
# suffix, so version_tag may have at most 117 characters.
for tag in "${tags[@]}"; do
  if (( ${#tag} > 128 )); then
    echo "::error title=version_tag too long::${tag} has ${#tag} characters, Docker allows 128 (version_tag: at most 117)"
    exit 1
  fi
done

# A random delimiter, so no value can end the multi-line output early.
delimiter="EOF_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
{
  echo "tags<<${delimiter}"
  for tag in "${tags[@]}"; do
    echo "${image}:${tag}"
  done
  echo "${delimiter}"
  echo "primary=${image}:${version}"
  echo "short_sha=${short_sha}"
  echo "build_date=${build_date}"
} >> "$GITHUB_OUTPUT"

echo "Image tags:"
for tag in "${tags[@]}"; do
  echo "  ${image}:${tag}"
done
