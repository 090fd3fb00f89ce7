//! GitHub REST client: token discovery, errors a person can act on, rate limits, sealed boxes.
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::config::RepoName;
use crate::error::{Error, Result};

const DEFAULT_API: &str = "https://api.github.com";
const API_VERSION: &str = "2022-11-28";
/// Longest rate-limit pause we sit through; beyond it we stop and say when to retry.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 4;

pub struct GitHub {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

/// The repository as the API names it, with the IDs GitHub puts in immutable subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub owner: String,
    pub name: String,
    pub owner_id: u64,
    pub repo_id: u64,
    pub default_branch: String,
    /// ISO 8601; empty when GitHub did not say.
    pub created_at: String,
}

/// GitHub issues immutable `sub` claims for repositories created from this date on.
const IMMUTABLE_SUBJECTS_SINCE: &str = "2026-07-15";

impl RepoInfo {
    /// Whether tokens of this repository carry `repo:OWNER@ID/REPO@ID:…` subjects (repositories
    /// renamed, transferred or opted in later do too; that cannot be read from the API).
    pub fn issues_immutable_subjects(&self) -> bool {
        !self.created_at.is_empty() && self.created_at.as_str() >= IMMUTABLE_SUBJECTS_SINCE
    }
}

/// Where secrets and variables live: the repository, or one of its environments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Repository,
    Environment(String),
}

impl Place {
    pub fn describe(&self) -> String {
        match self {
            Place::Repository => "repository".into(),
            Place::Environment(e) => format!("environment {e}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_id: String,
    pub key: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub value: String,
    pub updated_at: String,
}

/// A path segment keeps RFC 3986's unreserved characters as they are.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Finds a token: `GITHUB_TOKEN`, `GH_TOKEN`, then `gh auth token`.
pub fn discover_token() -> Result<SecretString> {
    for var in ["GITHUB_TOKEN", "GH_TOKEN"] {
        if let Ok(t) = std::env::var(var)
            && !t.trim().is_empty()
        {
            return Ok(SecretString::from(t.trim().to_string()));
        }
    }
    if let Ok(out) = std::process::Command::new("gh")
        .args(["auth", "token"])
        .output()
        && out.status.success()
    {
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !t.is_empty() {
            return Ok(SecretString::from(t));
        }
    }
    Err(Error::GitHub(
        "no GitHub token found.\n  Set GITHUB_TOKEN or GH_TOKEN, or log in with `gh auth login`.\n  A fine-grained token needs, on the repository: Secrets (write), Variables (write), Actions (read), Administration (write, only with --secret-scope environment) and Metadata (read); a classic token needs `repo`."
            .into(),
    ))
}

/// Seals a value for GitHub with libsodium's `crypto_box_seal`.
pub fn seal(key: &PublicKey, plaintext: &SecretString) -> Result<String> {
    let public = crypto_box::PublicKey::from(key.key);
    let sealed = public
        .seal(
            &mut crypto_box::aead::OsRng,
            plaintext.expose_secret().as_bytes(),
        )
        .map_err(|_| {
            Error::GitHub("could not encrypt the secret with the repository's public key".into())
        })?;
    Ok(BASE64.encode(sealed))
}

pub fn parse_public_key(body: &Value) -> Result<PublicKey> {
    let key_id = body["key_id"].as_str().unwrap_or_default().to_string();
    let raw = body["key"].as_str().unwrap_or_default();
    let bytes = BASE64.decode(raw).map_err(|_| {
        Error::GitHub(
            "GitHub returned a secrets public key that is not valid base64; nothing was written"
                .into(),
        )
    })?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        Error::GitHub(format!(
            "GitHub returned a {}-byte secrets public key (expected 32); nothing was written",
            b.len()
        ))
    })?;
    if key_id.is_empty() {
        return Err(Error::GitHub(
            "GitHub returned a secrets public key without key_id; nothing was written".into(),
        ));
    }
    Ok(PublicKey { key_id, key })
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl GitHub {
    pub fn new(token: SecretString) -> Result<GitHub> {
        let base = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API.to_string());
        let http = reqwest::Client::builder()
            .user_agent(concat!("skyecr-bootstrap/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::GitHub(format!("cannot build the HTTP client: {e}")))?;
        Ok(GitHub {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn place_path(repo: &RepoName, place: &Place) -> String {
        match place {
            Place::Repository => format!("/repos/{}/{}/actions", enc(&repo.owner), enc(&repo.name)),
            Place::Environment(e) => format!(
                "/repos/{}/{}/environments/{}",
                enc(&repo.owner),
                enc(&repo.name),
                enc(e)
            ),
        }
    }

    /// One request with retries for 5xx, dropped connections and short rate-limit waits.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose_secret())
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", API_VERSION);
            if let Some(b) = body {
                request = request.json(b);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS => {
                    tracing_note(&format!("GitHub {method} {path}: {e}; retrying"));
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(e) => {
                    return Err(Error::GitHub(format!(
                        "could not reach GitHub at {} ({method} {path}): {}",
                        self.base,
                        without_url(&e)
                    )));
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            // A connection cut in the middle of the answer is a transport failure, not an
            // empty answer.
            let text = match response.text().await {
                Ok(text) => text,
                Err(e) if attempt < ATTEMPTS => {
                    tracing_note(&format!(
                        "GitHub {method} {path}: the answer broke off ({e}); retrying"
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(e) => {
                    return Err(Error::GitHub(format!(
                        "GitHub's answer to {method} {path} broke off: {}",
                        without_url(&e)
                    )));
                }
            };
            if status.is_success() {
                let body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        Error::GitHub(format!(
                            "GitHub answered {method} {path} with a body that is not JSON ({e})"
                        ))
                    })?
                };
                return Ok(Reply { status, body });
            }
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let message = body["message"].as_str().unwrap_or("").to_string();

            // Rate limits, primary or secondary, come as 403 or 429 (GitHub's "Rate limits for
            // the REST API"): wait out retry-after, else the reset time when remaining is 0. A
            // secondary limit may carry neither (then GitHub asks for at least a minute), so it
            // is told by its message: a 403 saying so is a rate limit, not a missing permission.
            let remaining_zero = header("x-ratelimit-remaining").as_deref() == Some("0");
            let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
            let lowered = message.to_ascii_lowercase();
            let secondary = lowered.contains("secondary rate limit") || lowered.contains("abuse");
            if status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::FORBIDDEN
                    && (remaining_zero || retry_after.is_some() || secondary))
            {
                let wait = match retry_after {
                    Some(s) => Duration::from_secs(s),
                    None if remaining_zero => {
                        let reset = header("x-ratelimit-reset")
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(0);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0);
                        Duration::from_secs(reset.saturating_sub(now) + 1)
                    }
                    None => {
                        return Err(Error::GitHub(format!(
                            "GitHub's rate limit was hit ({message}) without saying for how long; GitHub asks to wait at least a minute.\n  Nothing is lost: rerun then and the tool continues where it stopped."
                        )));
                    }
                };
                if wait <= MAX_RATE_LIMIT_WAIT && attempt < ATTEMPTS {
                    tracing_note(&format!(
                        "GitHub rate limit reached; waiting {}s",
                        wait.as_secs()
                    ));
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(Error::GitHub(format!(
                    "GitHub's API rate limit is exhausted ({message}); it resets in {} s.\n  Nothing is lost: rerun then and the tool continues where it stopped.",
                    wait.as_secs()
                )));
            }
            if status.is_server_error() && attempt < ATTEMPTS {
                tracing_note(&format!(
                    "GitHub {method} {path} answered {status}; retrying"
                ));
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                continue;
            }
            // Not found, conflicts and validation failures are answers the callers interpret.
            if status == StatusCode::NOT_FOUND
                || status == StatusCode::UNPROCESSABLE_ENTITY
                || status == StatusCode::CONFLICT
            {
                return Ok(Reply { status, body });
            }
            return Err(self.failure(
                status,
                &method,
                path,
                &message,
                header("x-accepted-github-permissions"),
            ));
        }
    }

    fn failure(
        &self,
        status: StatusCode,
        method: &Method,
        path: &str,
        message: &str,
        needed: Option<String>,
    ) -> Error {
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(" ({message})")
        };
        match status.as_u16() {
            401 => Error::GitHub(format!(
                "GitHub rejected the token{detail}: it is missing, wrong or expired.\n  Create a new one, or run `gh auth login`, and set GITHUB_TOKEN."
            )),
            403 => Error::GitHub(match needed {
                Some(p) => format!(
                    "the GitHub token lacks a permission for {method} {path}{detail}.\n  Grant it `{p}` on the repository (fine-grained token), or use a classic token with `repo`."
                ),
                None => format!(
                    "GitHub refused {method} {path}{detail}.\n  The token needs Secrets and Variables write, Actions and Metadata read on the repository (classic token: `repo`)."
                ),
            }),
            _ => Error::GitHub(format!(
                "GitHub answered {method} {path} with {status}{detail}"
            )),
        }
    }

    /// Proves the token can see the repository, and reads its canonical names and IDs.
    pub async fn repository(&self, repo: &RepoName) -> Result<RepoInfo> {
        let path = format!("/repos/{}/{}", enc(&repo.owner), enc(&repo.name));
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(Error::GitHub(format!(
                "GitHub repository {repo} was not found, or this token cannot see it.\n  Check --github-repo, and that the token has access to the repository (fine-grained tokens list their repositories)."
            )));
        }
        let b = &reply.body;
        let (Some(full), Some(owner_id), Some(repo_id)) = (
            b["full_name"].as_str(),
            b["owner"]["id"].as_u64(),
            b["id"].as_u64(),
        ) else {
            return Err(Error::GitHub(format!(
                "GitHub's answer for {repo} lacks full_name, id or owner.id"
            )));
        };
        // The name goes into trust policies: a wildcard or path here would widen the trust.
        if !crate::config::is_github_repo(full) {
            return Err(Error::GitHub(format!(
                "GitHub's answer for {repo} names the repository {full:?}, which is not an OWNER/REPO name; nothing was written"
            )));
        }
        let (owner, name) = full.split_once('/').unwrap_or((&repo.owner, &repo.name));
        Ok(RepoInfo {
            owner: owner.to_string(),
            name: name.to_string(),
            owner_id,
            repo_id,
            default_branch: b["default_branch"].as_str().unwrap_or("main").to_string(),
            created_at: b["created_at"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// The repository's OIDC subject template: `None` when it uses GitHub's default.
    pub async fn subject_template(&self, repo: &RepoName) -> Result<Option<Vec<String>>> {
        let path = format!(
            "/repos/{}/{}/actions/oidc/customization/sub",
            enc(&repo.owner),
            enc(&repo.name)
        );
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND
            || reply.body["use_default"].as_bool().unwrap_or(true)
        {
            return Ok(None);
        }
        let keys = reply.body["include_claim_keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(keys))
    }

    pub async fn public_key(&self, repo: &RepoName, place: &Place) -> Result<PublicKey> {
        let path = format!("{}/secrets/public-key", Self::place_path(repo, place));
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(Error::GitHub(format!(
                "GitHub has no secrets public key for the {} of {repo}",
                place.describe()
            )));
        }
        parse_public_key(&reply.body)
    }

    /// The secrets public key, or `None` where there is none yet (an environment not created).
    pub async fn public_key_if_any(
        &self,
        repo: &RepoName,
        place: &Place,
    ) -> Result<Option<PublicKey>> {
        let path = format!("{}/secrets/public-key", Self::place_path(repo, place));
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        parse_public_key(&reply.body).map(Some)
    }

    pub async fn secret(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
    ) -> Result<Option<SecretMeta>> {
        let path = format!("{}/secrets/{}", Self::place_path(repo, place), enc(name));
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(SecretMeta {
            updated_at: reply.body["updated_at"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }))
    }

    /// Seals and writes a secret with `key` (read beforehand) or a freshly read one; a stale
    /// key (422) is read again once.
    pub async fn put_secret(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
        value: &SecretString,
        key: Option<&PublicKey>,
    ) -> Result<()> {
        let path = format!("{}/secrets/{}", Self::place_path(repo, place), enc(name));
        let mut known = key.cloned();
        for attempt in 0..2 {
            let key = match known.take() {
                Some(k) => k,
                None => self.public_key(repo, place).await?,
            };
            let body = json!({"encrypted_value": seal(&key, value)?, "key_id": key.key_id});
            let reply = self.call(Method::PUT, &path, Some(&body)).await?;
            match reply.status.as_u16() {
                201 | 204 => return Ok(()),
                422 if attempt == 0 => continue,
                code => {
                    return Err(Error::GitHub(format!(
                        "GitHub did not accept secret {name} in the {} ({code}): {}. Rerun to try again.",
                        place.describe(),
                        reply.body["message"]
                            .as_str()
                            .unwrap_or("the key may have rotated twice")
                    )));
                }
            }
        }
        Err(Error::GitHub(format!(
            "GitHub did not accept secret {name}"
        )))
    }

    pub async fn variable(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
    ) -> Result<Option<Variable>> {
        let path = format!("{}/variables/{}", Self::place_path(repo, place), enc(name));
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(Variable {
            value: reply.body["value"].as_str().unwrap_or_default().to_string(),
            updated_at: reply.body["updated_at"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }))
    }

    /// Creates or updates a variable (`POST` when new, `PATCH` otherwise).
    pub async fn set_variable(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
        value: &str,
        exists: bool,
    ) -> Result<()> {
        let base = format!("{}/variables", Self::place_path(repo, place));
        let body = json!({"name": name, "value": value});
        let mut exists = exists;
        // Existence changed since we looked (another run, or someone else): the other verb,
        // once; a server that keeps contradicting itself gets an error, not a loop.
        for attempt in 0..2 {
            let reply = if exists {
                self.call(Method::PATCH, &format!("{base}/{}", enc(name)), Some(&body))
                    .await?
            } else {
                self.call(Method::POST, &base, Some(&body)).await?
            };
            match reply.status.as_u16() {
                200..=299 => return Ok(()),
                404 if exists && attempt == 0 => exists = false,
                409 if !exists && attempt == 0 => exists = true,
                _ => {
                    return Err(Error::GitHub(format!(
                        "GitHub did not accept variable {name} in the {}: {}",
                        place.describe(),
                        reply.body["message"]
                            .as_str()
                            .unwrap_or("unexpected answer")
                    )));
                }
            }
        }
        Err(Error::GitHub(format!(
            "GitHub did not accept variable {name} in the {}: it exists and does not exist",
            place.describe()
        )))
    }

    /// Creates a variable that must not exist yet: `false` when it does (409), e.g. because
    /// another run created it after this one looked.
    pub async fn create_variable(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
        value: &str,
    ) -> Result<bool> {
        let path = format!("{}/variables", Self::place_path(repo, place));
        let body = json!({"name": name, "value": value});
        let reply = self.call(Method::POST, &path, Some(&body)).await?;
        match reply.status.as_u16() {
            200..=299 => Ok(true),
            409 => Ok(false),
            _ => Err(Error::GitHub(format!(
                "GitHub did not accept variable {name} in the {}: {}",
                place.describe(),
                reply.body["message"]
                    .as_str()
                    .unwrap_or("unexpected answer")
            ))),
        }
    }

    /// The login the token belongs to (shown before any write).
    pub async fn login(&self) -> Result<String> {
        let reply = self.call(Method::GET, "/user", None).await?;
        Ok(reply.body["login"]
            .as_str()
            .unwrap_or("unknown")
            .to_string())
    }

    /// Deletes a secret; one already gone counts as deleted.
    pub async fn delete_secret(&self, repo: &RepoName, place: &Place, name: &str) -> Result<()> {
        let path = format!("{}/secrets/{}", Self::place_path(repo, place), enc(name));
        Self::deleted(self.call(Method::DELETE, &path, None).await?, &path)
    }

    /// Deletes a variable; one already gone counts as deleted.
    pub async fn delete_variable(&self, repo: &RepoName, place: &Place, name: &str) -> Result<()> {
        let path = format!("{}/variables/{}", Self::place_path(repo, place), enc(name));
        Self::deleted(self.call(Method::DELETE, &path, None).await?, &path)
    }

    fn deleted(reply: Reply, path: &str) -> Result<()> {
        if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(Error::GitHub(format!(
            "GitHub did not delete {path}: {} ({})",
            reply.status,
            reply.body["message"]
                .as_str()
                .unwrap_or("unexpected answer")
        )))
    }

    pub async fn environment_exists(&self, repo: &RepoName, environment: &str) -> Result<bool> {
        let path = format!(
            "/repos/{}/{}/environments/{}",
            enc(&repo.owner),
            enc(&repo.name),
            enc(environment)
        );
        Ok(self.call(Method::GET, &path, None).await?.status != StatusCode::NOT_FOUND)
    }

    pub async fn create_environment(&self, repo: &RepoName, environment: &str) -> Result<()> {
        let path = format!(
            "/repos/{}/{}/environments/{}",
            enc(&repo.owner),
            enc(&repo.name),
            enc(environment)
        );
        let reply = self.call(Method::PUT, &path, Some(&json!({}))).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(Error::GitHub(format!(
                "GitHub did not create environment {environment} ({})",
                reply.status
            )))
        }
    }
}

/// The error with its causes (reqwest's own text is often just "error sending request").
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn tracing_note(text: &str) {
    if std::env::var_os("SKYECR_DEBUG").is_some() {
        eprintln!("note: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_box_round_trip() {
        let secret = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let key = PublicKey {
            key_id: "k".into(),
            key: *secret.public_key().as_bytes(),
        };
        let sealed = seal(
            &key,
            &SecretString::from("arn:aws:iam::123456789012:role/r"),
        )
        .unwrap();
        let opened = secret.unseal(&BASE64.decode(sealed).unwrap()).unwrap();
        assert_eq!(opened, b"arn:aws:iam::123456789012:role/r");
    }

    #[test]
    fn public_keys_of_the_wrong_shape_are_rejected() {
        assert!(parse_public_key(&json!({"key_id": "1", "key": BASE64.encode([7u8; 32])})).is_ok());
        let short = parse_public_key(&json!({"key_id": "1", "key": BASE64.encode([7u8; 31])}));
        assert!(short.unwrap_err().to_string().contains("31-byte"));
        assert!(parse_public_key(&json!({"key_id": "1", "key": "!!not base64"})).is_err());
        assert!(parse_public_key(&json!({"key": BASE64.encode([7u8; 32])})).is_err());
    }
}
