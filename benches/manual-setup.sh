#!/usr/bin/env bash
# The setup guide's manual sequence, the benchmark's baseline (benches/bench.py runs it): Setup
# Option 1, Steps 1-3, plus creating the ECR repository (the guide's prerequisite) and the GitHub
# secret of Step 4, one command after another as a person pastes them from
# shared/reference/ecr-pipeline-setup-guide.md, with YOUR_AWS_ACCOUNT_ID and YOUR_GITHUB_ORG filled in.
#
# Step 4 is done in GitHub's web UI, which seals the value in the browser and sends one PUT; here
# that is one curl PUT of a value sealed beforehand (BENCH_SEALED_VALUE, BENCH_KEY_ID) for the role
# ARN the guide's commands produce (BENCH_ROLE_ARN, checked against `aws iam get-role`).
#
# Environment: the AWS CLI's (AWS_ENDPOINT_URL, credentials, AWS_DEFAULT_REGION), GITHUB_API_URL,
# GITHUB_TOKEN, BENCH_AWS (the aws executable), BENCH_GITHUB_REPO (OWNER/REPO), BENCH_SEALED_VALUE,
# BENCH_KEY_ID, BENCH_ROLE_ARN.
set -euo pipefail
aws=${BENCH_AWS:-aws}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# YOUR_AWS_ACCOUNT_ID
account=$("$aws" sts get-caller-identity --query Account --output text)

# Step 1: Create OIDC Provider in AWS
"$aws" iam create-open-id-connect-provider \
  --url https://token.actions.githubusercontent.com \
  --client-id-list sts.amazonaws.com \
  --thumbprint-list 6938fd4d98bab03faadb97b34396831e3780aea1 >/dev/null

# Step 2: Create IAM Role for GitHub Actions
cat > github-oidc-trust-policy.json <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Federated": "arn:aws:iam::${account}:oidc-provider/token.actions.githubusercontent.com"
      },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
        },
        "StringLike": {
          "token.actions.githubusercontent.com:sub": "repo:${BENCH_GITHUB_REPO}:*"
        }
      }
    }
  ]
}
EOF
"$aws" iam create-role \
  --role-name GitHubActions-SkyPilot-ECR \
  --assume-role-policy-document file://github-oidc-trust-policy.json \
  --description "Role for GitHub Actions to push SkyPilot images to ECR" >/dev/null
role_arn=$("$aws" iam get-role --role-name GitHubActions-SkyPilot-ECR --query 'Role.Arn' --output text)

# Step 3: Attach ECR Permissions to Role
cat > ecr-push-policy.json <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "ecr:GetAuthorizationToken"
      ],
      "Resource": "*"
    },
    {
      "Effect": "Allow",
      "Action": [
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload"
      ],
      "Resource": "arn:aws:ecr:us-east-1:${account}:repository/skypilot"
    }
  ]
}
EOF
"$aws" iam create-policy \
  --policy-name SkyPilot-ECR-Push \
  --policy-document file://ecr-push-policy.json >/dev/null
"$aws" iam attach-role-policy \
  --role-name GitHubActions-SkyPilot-ECR \
  --policy-arn "arn:aws:iam::${account}:policy/SkyPilot-ECR-Push"

# Prerequisite: the ECR repository
"$aws" ecr create-repository \
  --repository-name skypilot \
  --region us-east-1 \
  --image-scanning-configuration scanOnPush=true \
  --encryption-configuration encryptionType=AES256 >/dev/null

# Step 4: Configure GitHub Secret (the web UI's one PUT of the sealed role ARN)
if [ "$role_arn" != "$BENCH_ROLE_ARN" ]; then
  echo "manual-setup.sh: get-role returned $role_arn, the sealed value is for $BENCH_ROLE_ARN" >&2
  exit 1
fi
curl -fsS -o /dev/null -X PUT \
  -H "Authorization: Bearer $GITHUB_TOKEN" \
  -H "Accept: application/vnd.github+json" \
  -H "Content-Type: application/json" \
  -d "{\"encrypted_value\": \"$BENCH_SEALED_VALUE\", \"key_id\": \"$BENCH_KEY_ID\"}" \
  "$GITHUB_API_URL/repos/$BENCH_GITHUB_REPO/actions/secrets/AWS_ECR_ROLE_ARN"
