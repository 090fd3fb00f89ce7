//! GitHub REST client: token discovery, errors a person can act on, rate limits, sealed boxes.
use std::collections::HashMap;
use std::sync::Arc;
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

#[derive(Clone)]
pub struct GitHub {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    /// What observing reads of a repository or environment, once per run: its secrets key
    /// and its lists of secrets and variables (several resources look into them).
    observed: Arc<super::ReadOnce>,
}

/// The repository as the API names it, with the IDs GitHub puts in immutable subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub owner: String,
    pub name: String,
    pub owner_id: u64,
    pub repo_id: u64,
    pub default_branch: String,
}

/// Which subject GitHub puts in this repository's tokens, as its OIDC customization says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFormat {
    /// The claim keys of a custom template (the repository's, or its organization's when the
    /// repository defers to it); `None` is GitHub's default template.
    pub template: Option<Vec<String>>,
    /// The form of the `repo:` claim GitHub sends; `None` when the API does not say, and then
    /// both forms count.
    pub form: Option<SubjectForm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectForm {
    /// `repo:OWNER/REPO:…`
    Name,
    /// `repo:OWNER@OWNER_ID/REPO@REPO_ID:…`
    Immutable,
}

/// Reads the repository's (and its organization's) customization answers. `sub_claim_prefix`
/// is the authority on the form: `use_immutable_subject` is only the opt-in flag (repositories
/// created, renamed or transferred after 2026-07-15 answer `false` and send IDs all the same),
/// so it counts only as a `true` without a prefix. A repository with `use_default: false` and
/// no keys of its own uses the organization's template.
pub fn parse_customization(repo: Option<&Value>, org: Option<&Value>) -> SubjectFormat {
    let Some(repo) = repo.filter(|b| b.is_object()) else {
        return SubjectFormat::default();
    };
    let keys = |body: &Value| -> Option<Vec<String>> {
        let keys: Vec<String> = body["include_claim_keys"]
            .as_array()?
            .iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        (!keys.is_empty()).then_some(keys)
    };
    let template = match repo["use_default"].as_bool() {
        Some(false) => keys(repo).or_else(|| org.and_then(keys)),
        _ => None,
    };
    let form = match repo["sub_claim_prefix"].as_str() {
        Some(prefix) if prefix.contains('@') => Some(SubjectForm::Immutable),
        Some(prefix) if prefix.starts_with("repo:") => Some(SubjectForm::Name),
        _ if repo["use_immutable_subject"].as_bool() == Some(true) => Some(SubjectForm::Immutable),
        _ => None,
    };
    SubjectFormat { template, form }
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

pub fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The API base from `GITHUB_API_URL` (default api.github.com), checked before any request:
/// the token travels to it, so it must be `https://` (plain `http://` only to this machine) and
/// must not carry credentials of its own.
pub fn api_base() -> Result<String> {
    match std::env::var("GITHUB_API_URL") {
        Ok(raw) if !raw.trim().is_empty() => check_api_url(raw.trim()),
        _ => Ok(DEFAULT_API.to_string()),
    }
}

fn check_api_url(raw: &str) -> Result<String> {
    let refuse = |why: &str| {
        Err(Error::Usage(format!(
            "GITHUB_API_URL {} {why}",
            redacted(raw)
        )))
    };
    let Ok(url) = reqwest::Url::parse(raw) else {
        return refuse(
            "is not a URL: set it to the API of your GitHub, e.g. https://github.example.com/api/v3",
        );
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse(
            "holds credentials: remove them from the URL and pass the token in GITHUB_TOKEN instead",
        );
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if loopback => {}
        "http" => {
            return refuse(
                "is plain http: the token would travel in clear; use https:// (http:// is accepted only for this machine)",
            );
        }
        _ => return refuse("must start with https://"),
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// The URL as it may be shown: any credentials in it replaced.
fn redacted(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("***");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(unparsable)".into(),
    }
}

/// The host `gh` knows this API by: github.com for api.github.com, `X.ghe.com` for
/// `api.X.ghe.com`, and the server itself for GitHub Enterprise Server (`HOST/api/v3`).
fn gh_hostname(api: &str) -> String {
    let host = reqwest::Url::parse(api)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "github.com".into());
    host.strip_prefix("api.").unwrap_or(&host).to_string()
}

/// Finds a token: `GITHUB_TOKEN`, `GH_TOKEN`, then `gh auth token` for the API's host (so a
/// GitHub Enterprise Server never receives the github.com token).
pub fn discover_token(api: &str) -> Result<SecretString> {
    for var in ["GITHUB_TOKEN", "GH_TOKEN"] {
        if let Ok(t) = std::env::var(var)
            && !t.trim().is_empty()
        {
            return Ok(SecretString::from(t.trim().to_string()));
        }
    }
    let host = gh_hostname(api);
    if let Ok(out) = std::process::Command::new("gh")
        .args(["auth", "token", "--hostname", &host])
        .output()
        && out.status.success()
    {
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !t.is_empty() {
            return Ok(SecretString::from(t));
        }
    }
    Err(Error::GitHub(format!(
        "no GitHub token found for {host}.\n  Set GITHUB_TOKEN or GH_TOKEN, or log in with `gh auth login --hostname {host}`.\n  A fine-grained token needs, on the repository: Secrets (write), Variables (write), Actions (read), Administration (write, only with --secret-scope environment) and Metadata (read); a classic token needs `repo`."
    )))
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
    /// The client for `GITHUB_API_URL` with the token found for it; no request yet.
    pub fn connect() -> Result<GitHub> {
        let base = api_base()?;
        let token = discover_token(&base)?;
        GitHub::new(&base, token)
    }

    pub fn new(base: &str, token: SecretString) -> Result<GitHub> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("skyecr-bootstrap/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::GitHub(format!("cannot build the HTTP client: {e}")))?;
        Ok(GitHub {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            observed: Arc::default(),
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
            // The slot is held until the answer is read, and given back before any wait. GitHub
            // has one bound for reads and writes alike (its concurrency limit counts both).
            let slot = super::limit::Service::GitHub
                .slot(super::limit::Lane::Read)
                .await;
            let sent = std::time::Instant::now();
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
            tracing_note(&format!(
                "github {method} {path}: {} in {} ms",
                status.as_u16(),
                sent.elapsed().as_millis()
            ));
            let headers = response.headers().clone();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            // A connection cut in the middle of the answer is a transport failure, not an
            // empty answer.
            let text = response.text().await;
            drop(slot);
            let text = match text {
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
                    serde_json::from_str(&text).map_err(|_| {
                        Error::GitHub(format!(
                            "GitHub answered {method} {path} with {status} and a body that is not JSON: {}.\n  A proxy in between may have answered: check HTTPS_PROXY and GITHUB_API_URL, then rerun.",
                            crate::error::answer_start(text.as_bytes())
                        ))
                    })?
                };
                return Ok(Reply { status, body });
            }
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let message = match body["message"].as_str() {
                Some(m) => m.to_string(),
                // A page from a proxy, say: its start tells a person who answered.
                None if body.is_null() && !text.trim().is_empty() => format!(
                    "a body that is not GitHub's: {}",
                    crate::error::answer_start(text.as_bytes())
                ),
                None => String::new(),
            };

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
            s if s >= 500 => Error::GitHub(format!(
                "GitHub answered {method} {path} with {status}{detail}.\n  GitHub, or a proxy in between (check HTTPS_PROXY and GITHUB_API_URL), failed: rerun in a minute, and the rerun continues where this one stopped."
            )),
            _ => Error::GitHub(format!(
                "GitHub answered {method} {path} with {status}{detail}.\n  Rerun once the cause is fixed: the rerun continues where this one stopped."
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
        })
    }

    /// The subject GitHub sends for the repository: its customization and, for a repository
    /// that defers to it, its organization's, read at once. An answer that fails or does not
    /// say (an older GitHub Enterprise Server) leaves the form open.
    pub async fn subject_format(&self, repo: &RepoName) -> Result<SubjectFormat> {
        let repo_path = format!(
            "/repos/{}/{}/actions/oidc/customization/sub",
            enc(&repo.owner),
            enc(&repo.name)
        );
        let org_path = format!("/orgs/{}/actions/oidc/customization/sub", enc(&repo.owner));
        let answer = |reply: Result<Reply>| match reply {
            Ok(r) if r.status.is_success() => Some(r.body),
            Ok(_) => None,
            Err(e) => {
                crate::cloud::debug_note(&format!("OIDC customization unreadable: {e}"));
                None
            }
        };
        // The organization's answer is the same for each of its repositories: read once.
        let org = self.observed.get(&org_path, || async {
            Ok(answer(self.call(Method::GET, &org_path, None).await))
        });
        let (repo_reply, org_body) = tokio::join!(self.call(Method::GET, &repo_path, None), org);
        let (repo_body, org_body) = (answer(repo_reply), org_body?);
        Ok(parse_customization(repo_body.as_ref(), org_body.as_ref()))
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
        // Read once per run: a key GitHub rotates meanwhile is refetched on its 422
        // (`public_key`), never from here.
        let path = format!("{}/secrets/public-key", Self::place_path(repo, place));
        self.observed
            .get(&path, || async {
                let reply = self.call(Method::GET, &path, None).await?;
                if reply.status == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                parse_public_key(&reply.body).map(Some)
            })
            .await
    }

    /// A secret as observing sees it: from the place's list of secrets, read once for every
    /// secret looked up there (one request instead of one per name).
    pub async fn listed_secret(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
    ) -> Result<Option<SecretMeta>> {
        let listed = self.listed(repo, place, "secrets", 100).await?;
        Ok(listed.get(&name.to_ascii_uppercase()).map(|s| SecretMeta {
            updated_at: s["updated_at"].as_str().unwrap_or_default().to_string(),
        }))
    }

    /// A variable as observing sees it, from the place's list of variables read once.
    pub async fn listed_variable(
        &self,
        repo: &RepoName,
        place: &Place,
        name: &str,
    ) -> Result<Option<Variable>> {
        let listed = self.listed(repo, place, "variables", 30).await?;
        Ok(listed.get(&name.to_ascii_uppercase()).map(|v| Variable {
            value: v["value"].as_str().unwrap_or_default().to_string(),
            updated_at: v["updated_at"].as_str().unwrap_or_default().to_string(),
        }))
    }

    /// Every secret or variable of the place by name, all pages (`per_page` is GitHub's most
    /// for the list), read once per run. A place that does not exist lists nothing.
    async fn listed(
        &self,
        repo: &RepoName,
        place: &Place,
        kind: &'static str,
        per_page: usize,
    ) -> Result<Arc<HashMap<String, Value>>> {
        let base = format!("{}/{kind}", Self::place_path(repo, place));
        self.observed
            .get(&base, || async {
                let mut all = HashMap::new();
                // GitHub holds at most 1,000 secrets and 1,000 variables per place.
                for page in 1..=(1000 / per_page + 1) {
                    let path = format!("{base}?per_page={per_page}&page={page}");
                    let reply = self.call(Method::GET, &path, None).await?;
                    if reply.status == StatusCode::NOT_FOUND {
                        break;
                    }
                    let Some(items) = reply.body[kind].as_array().cloned() else {
                        return Err(Error::GitHub(format!(
                            "GitHub answered GET {path} without the list of {kind}: {}.\n  A proxy in between may have answered: check HTTPS_PROXY and GITHUB_API_URL, then rerun.",
                            crate::error::answer_start(reply.body.to_string().as_bytes())
                        )));
                    };
                    let total = reply.body["total_count"].as_u64().unwrap_or(0);
                    for item in &items {
                        if let Some(name) = item["name"].as_str() {
                            all.insert(name.to_ascii_uppercase(), item.clone());
                        }
                    }
                    if items.len() < per_page || all.len() as u64 >= total {
                        break;
                    }
                }
                Ok(Arc::new(all))
            })
            .await
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

    /// Renames a variable and sets its value in one write (GitHub's `PATCH` takes a new name).
    /// `false` when `from` is gone or `to` exists: the caller decides what that means.
    pub async fn rename_variable(
        &self,
        repo: &RepoName,
        place: &Place,
        from: &str,
        to: &str,
        value: &str,
    ) -> Result<bool> {
        let path = format!("{}/variables/{}", Self::place_path(repo, place), enc(from));
        let body = json!({"name": to, "value": value});
        let reply = self.call(Method::PATCH, &path, Some(&body)).await?;
        match reply.status.as_u16() {
            200..=299 => Ok(true),
            404 | 409 => Ok(false),
            _ => Err(Error::GitHub(format!(
                "GitHub did not accept variable {to} in the {}: {}",
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

    /// An environment's deployment branch policy: `None` when the environment does not exist,
    /// `Some(None)` when it exists with none (any branch may run a job in it).
    pub async fn deployment_branch_policy(
        &self,
        repo: &RepoName,
        environment: &str,
    ) -> Result<Option<Option<Value>>> {
        let path = format!(
            "/repos/{}/{}/environments/{}",
            enc(&repo.owner),
            enc(&repo.name),
            enc(environment)
        );
        let reply = self.call(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let policy = &reply.body["deployment_branch_policy"];
        Ok(Some((!policy.is_null()).then(|| policy.clone())))
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

    /// Creates an environment that only the trusted refs can deploy to: a custom deployment
    /// branch policy with exactly `refs` (`(pattern, "branch" | "tag")`), or, with none given,
    /// protected branches only. Without one, a workflow on any branch could run a job in it, and
    /// the trust on `environment:NAME` would be trust on every branch.
    pub async fn create_environment(
        &self,
        repo: &RepoName,
        environment: &str,
        refs: &[(String, &'static str)],
    ) -> Result<()> {
        let path = format!(
            "/repos/{}/{}/environments/{}",
            enc(&repo.owner),
            enc(&repo.name),
            enc(environment)
        );
        let policy = json!({"deployment_branch_policy": {
            "protected_branches": refs.is_empty(),
            "custom_branch_policies": !refs.is_empty(),
        }});
        let failed = |status: StatusCode, what: &str| {
            Err(Error::GitHub(format!(
                "GitHub did not {what} for environment {environment} ({status}).\n  Check that the token has Administration (write) on {repo}, then rerun."
            )))
        };
        let reply = self.call(Method::PUT, &path, Some(&policy)).await?;
        if !reply.status.is_success() {
            return failed(reply.status, "create it with a deployment branch policy");
        }
        let policies = format!("{path}/deployment-branch-policies");
        for (pattern, kind) in refs {
            let body = json!({"name": pattern, "type": kind});
            let reply = self.call(Method::POST, &policies, Some(&body)).await?;
            // 303: the pattern is there already (a rerun after an interruption).
            if !reply.status.is_success() && reply.status != StatusCode::SEE_OTHER {
                return failed(reply.status, &format!("add the {kind} pattern {pattern}"));
            }
        }
        Ok(())
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
    crate::cloud::debug_note(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_form_is_read_from_the_prefix_not_guessed() {
        use serde_json::json;
        let form = |body: Value| parse_customization(Some(&body), None).form;
        // Opted in: the flag and an ID prefix agree.
        assert_eq!(
            form(
                json!({"use_default": true, "use_immutable_subject": true, "sub_claim_prefix": "repo:acme@1001/app@2002"})
            ),
            Some(SubjectForm::Immutable)
        );
        // New since 2026-07-15: the flag says false, the prefix carries the IDs.
        assert_eq!(
            form(
                json!({"use_default": true, "use_immutable_subject": false, "sub_claim_prefix": "repo:acme@1001/app@2002"})
            ),
            Some(SubjectForm::Immutable)
        );
        // An old repository: the name form, whatever its dates.
        assert_eq!(
            form(
                json!({"use_default": true, "use_immutable_subject": false, "sub_claim_prefix": "repo:acme/app"})
            ),
            Some(SubjectForm::Name)
        );
        // An older server that does not say: both forms count.
        assert_eq!(form(json!({"use_default": true})), None);
        assert_eq!(parse_customization(None, None), SubjectFormat::default());
    }

    #[test]
    fn a_repository_without_keys_of_its_own_uses_the_organizations_template() {
        use serde_json::json;
        let org = json!({"include_claim_keys": ["repo", "context", "job_workflow_ref"]});
        let deferring = json!({"use_default": false});
        assert_eq!(
            parse_customization(Some(&deferring), Some(&org)).template,
            Some(vec![
                "repo".to_string(),
                "context".to_string(),
                "job_workflow_ref".to_string()
            ])
        );
        let own = json!({"use_default": false, "include_claim_keys": ["repository_id", "context"]});
        assert_eq!(
            parse_customization(Some(&own), Some(&org)).template,
            Some(vec!["repository_id".to_string(), "context".to_string()])
        );
        let default = json!({"use_default": true});
        assert_eq!(
            parse_customization(Some(&default), Some(&org)).template,
            None
        );
    }

    #[test]
    fn the_api_url_must_keep_the_token_safe() {
        for ok in [
            "https://api.github.com",
            "https://github.example.com/api/v3/",
            "http://127.0.0.1:8080",
            "http://[::1]:9000",
            "http://localhost:3000",
        ] {
            assert!(check_api_url(ok).is_ok(), "{ok}");
        }
        let refused = |url: &str| match check_api_url(url) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{url} was accepted"),
        };
        assert!(refused("http://api.example.com").contains("plain http"));
        assert!(refused("http://10.0.0.5").contains("plain http"));
        assert!(refused("ftp://example.com").contains("https://"));
        assert!(refused("not a url").contains("not a URL"));
        let with_credentials = refused("https://alice:hunter2@github.example.com/api/v3");
        assert!(with_credentials.contains("credentials"));
        assert!(!with_credentials.contains("hunter2") && !with_credentials.contains("alice"));
    }

    #[test]
    fn gh_is_asked_for_the_apis_own_host() {
        assert_eq!(gh_hostname("https://api.github.com"), "github.com");
        assert_eq!(gh_hostname("https://api.acme.ghe.com"), "acme.ghe.com");
        assert_eq!(
            gh_hostname("https://github.example.com/api/v3"),
            "github.example.com"
        );
    }

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
