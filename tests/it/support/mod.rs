//! Starts the test world (moto + recording proxy + GitHub stand-in) and runs the real binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub mod leak;

pub const ACCOUNT: &str = "123456789012";
pub const REPO: &str = "acme/app";
pub const TOKEN: &str = "ghp_testtokenallpermissions0000000000";
/// The caller's own AWS key pair, as an operator's shell would hold it. moto does not check
/// signatures, so any pair works; the secret is shaped like a real one so the secrets check
/// can look for it.
pub const CALLER_KEY_ID: &str = "AKIAIOSFODNN7CALLER1";
pub const CALLER_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCALLERKEY1";

/// A policy document as IAM holds it, decoded here rather than with the tool's code: JSON, or
/// JSON percent-encoded (IAM's answers). Text that is neither is kept, marked as such.
pub fn decode_policy(raw: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        return v;
    }
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or_else(|_| json!({"not JSON": raw}))
}

/// A key pair IAM issued, as the world read it off a `CreateAccessKey` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// 1 for the first key the world saw, and so on (never reset).
    pub n: u64,
    pub user: String,
    pub id: String,
    pub secret: String,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    match std::env::var_os("SKYECR_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => manifest_dir().join(".venv/bin/python"),
    }
}

pub struct World {
    child: Child,
    // Held open: the world exits when this pipe closes, so a crashed test leaves nothing behind.
    _stdin: ChildStdin,
    pub moto: String,
    pub aws: String,
    pub github: String,
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// Everything every run of the binary printed, checked for secrets when the world ends.
    outputs: Recorder,
    /// Secrets a test made outside the world's view (e.g. an operator's own key), and the
    /// AWS secret and GitHub token every run was given.
    forbidden: Forbidden,
}

type Forbidden = Arc<Mutex<Vec<String>>>;

type Recorder = Arc<Mutex<Vec<Output>>>;

/// Where the output of a run goes for the secrets check, for runs `Run::run` does not start
/// (e.g. in a pseudo-terminal).
#[derive(Clone)]
pub struct Recording(Recorder);

impl Recording {
    pub fn record(&self, code: i32, stdout: &str, stderr: &str) {
        self.0.lock().unwrap().push(Output {
            code,
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        });
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Every test that starts a world gets the secrets check, unless it already failed.
        let leak = if std::thread::panicking() {
            None
        } else {
            self.leaked_secret().or_else(|| self.debug_dump())
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(report) = leak {
            panic!("{report}");
        }
    }
}

#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl World {
    pub fn start() -> World {
        let python = python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/test (it creates the venv with moto) before cargo test",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(manifest_dir().join("tests/support/world.py"))
            .args(["--seed-repo", REPO, "--seed-token", TOKEN])
            .env("MOTO_ACCOUNT_ID", ACCOUNT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/support/world.py");
        let stdin = child.stdin.take().expect("world stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("world stdout"))
            .read_line(&mut line)
            .expect("read the world's ready line");
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("world did not start ({e}): {line:?}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        World {
            child,
            _stdin: stdin,
            moto: ready["moto"].as_str().expect("moto").to_string(),
            aws: ready["aws"].as_str().expect("aws").to_string(),
            github: ready["github"].as_str().expect("github").to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
            rt,
            http: reqwest::Client::new(),
            outputs: Arc::new(Mutex::new(Vec::new())),
            forbidden: Arc::new(Mutex::new(vec![CALLER_SECRET.to_string()])),
        }
    }

    /// A secret that must never appear in the tool's output, beyond the ones the world saw.
    pub fn forbid(&self, secret: &str) {
        self.forbidden.lock().unwrap().push(secret.to_string());
    }

    /// Every secret the world handed out or received: the secret access keys IAM issued
    /// (seen on the proxy), the plaintexts GitHub received for `*SECRET_ACCESS_KEY` secrets,
    /// every GitHub token, the caller's AWS secret of every run, and what tests registered
    /// with `forbid`.
    pub fn secrets(&self) -> Vec<String> {
        let listing = self.get(&format!("{}/_world/secrets", self.github));
        let mut out: Vec<String> = ["aws_secret_access_keys", "github_secrets", "github_tokens"]
            .iter()
            .flat_map(|k| listing[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        out.push(TOKEN.to_string());
        out.extend(self.forbidden.lock().unwrap().iter().cloned());
        out.retain(|s| s.len() >= leak::MIN_SECRET_LEN);
        out.sort();
        out.dedup();
        out
    }

    /// Every key pair IAM issued through the proxy, oldest first (kept across resets).
    pub fn issued_keys(&self) -> Vec<IssuedKey> {
        self.get(&format!("{}/_world/access-keys", self.github))
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|k| IssuedKey {
                n: k["n"].as_u64().unwrap_or_default(),
                user: k["user_name"].as_str().unwrap_or_default().to_string(),
                id: k["access_key_id"].as_str().unwrap_or_default().to_string(),
                secret: k["secret_access_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect()
    }

    /// The last key pair IAM issued to `user`.
    pub fn newest_key_of(&self, user: &str) -> Option<IssuedKey> {
        self.issued_keys().into_iter().rfind(|k| k.user == user)
    }

    /// Forgets what the runs so far printed (for a test that leaks on purpose).
    pub fn clear_outputs(&self) {
        self.outputs.lock().unwrap().clear();
    }

    /// Runs of the binary so far, with what they printed.
    pub fn outputs(&self) -> Vec<Output> {
        self.outputs.lock().unwrap().clone()
    }

    /// Every text the tool produced: what each run printed, every file it wrote into its
    /// working directory, and every value it wrote into a GitHub variable.
    fn produced_texts(&self) -> Vec<(String, String)> {
        let mut texts = Vec::new();
        for out in self.outputs.lock().map(|o| o.clone()).unwrap_or_default() {
            texts.push((format!("stdout (exit {})", out.code), out.stdout));
            texts.push((format!("stderr (exit {})", out.code), out.stderr));
        }
        let mut dirs = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    texts.push((format!("the file {}", path.display()), text));
                }
            }
        }
        let listing = self.get(&format!("{}/_world/secrets", self.github));
        for v in listing["variable_values"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if let Some(v) = v.as_str() {
                texts.push(("a GitHub variable".to_string(), v.to_string()));
            }
        }
        texts
    }

    /// Which secret leaked where and in what form, if any (see `leak`).
    pub fn leaked_secret(&self) -> Option<String> {
        if self.outputs.lock().ok()?.is_empty() {
            return None;
        }
        let texts = self.produced_texts();
        let haystacks: Vec<leak::Haystack> =
            texts.iter().map(|(_, t)| leak::Haystack::new(t)).collect();
        for s in self.secrets() {
            let forms = leak::forms(&s);
            for ((place, text), hay) in texts.iter().zip(&haystacks) {
                if let Some(form) = hay.find(&forms) {
                    return Some(format!(
                        "a secret ({:.4}…, {} chars) leaked into {place}, {}:\n{}",
                        s,
                        s.len(),
                        form.name,
                        leak::redact(text, &s)
                    ));
                }
            }
        }
        None
    }

    /// Which output shows an SDK error's Debug formatting instead of words a person can act on.
    pub fn debug_dump(&self) -> Option<String> {
        let outputs = self.outputs.lock().ok()?.clone();
        outputs.iter().find_map(|out| {
            let text = format!("{}{}", out.stdout, out.stderr);
            // `source:` as Debug prints a field (`{ source: …`), not as in "resource:".
            [
                "ServiceError",
                "Unhandled",
                "{ source:",
                ", source:",
                "DispatchFailure",
                "ErrorMetadata",
            ]
            .iter()
            .find(|needle| text.contains(*needle))
            .map(|needle| {
                format!(
                    "an SDK Debug dump ({needle}) reached the user (exit {}):\n{text}",
                    out.code
                )
            })
        })
    }

    #[track_caller]
    pub fn assert_no_secret_leaked(&self) {
        if let Some(report) = self.leaked_secret() {
            panic!("{report}");
        }
    }

    /// Back to a fresh world without restarting it: moto, the GitHub stand-in (re-seeded),
    /// fault rules, consistency windows, any freeze, the request log, and the settings file
    /// `apply` saved in the working directory.
    pub fn reset(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("skyecr.json"));
        self.send(
            reqwest::Method::DELETE,
            &format!("{}/_world/freeze", self.github),
            json!({}),
        );
        self.post(&format!("{}/moto-api/reset", self.moto), json!({}));
        self.post(&format!("{}/_standin/reset", self.github), json!({}));
        self.send(
            reqwest::Method::DELETE,
            &format!("{}/_proxy/faults", self.aws),
            json!({}),
        );
        self.send(
            reqwest::Method::DELETE,
            &format!("{}/_world/holds", self.github),
            json!({}),
        );
        let (owner, repo) = REPO.split_once('/').unwrap();
        self.post(
            &format!("{}/_standin/repos", self.github),
            json!({"owner": owner, "repo": repo, "owner_id": 1001, "repo_id": 2002}),
        );
        self.post(
            &format!("{}/_standin/tokens", self.github),
            json!({"token": TOKEN, "permissions": "all", "repos": null, "login": owner, "user_id": 1001}),
        );
        self.clear_requests();
    }

    /// `{"requests": n, "mutating": m, "rounds": r}` since the last `clear_requests`.
    pub fn summary(&self) -> Value {
        self.get(&format!("{}/_world/summary", self.github))
    }

    /// After `k` more mutating requests (AWS and GitHub together), every request blocks.
    pub fn freeze_after(&self, k: usize) {
        self.post(
            &format!("{}/_world/freeze", self.github),
            json!({"after_mutating": k}),
        );
    }

    /// Blocks until the world has logged `k` mutating requests since the last clear.
    #[track_caller]
    pub fn wait_for_writes(&self, k: u64) {
        let r = self.wait(json!({"mutating": k}));
        assert!(
            r.is_some(),
            "the world never saw {k} writes: {}",
            self.summary()
        );
    }

    /// Blocks until the world has answered and logged `count` requests of `action` (an AWS
    /// action, or GitHub's `"METHOD /path"`).
    #[track_caller]
    pub fn wait_for_action(&self, action: &str, count: u64) {
        let r = self.wait(json!({"action": action, "count": count}));
        assert!(r.is_some(), "the world never saw {count} × {action}");
    }

    /// Blocks until `count` requests wait in the hold `name` (a fault rule with `"hold"`).
    #[track_caller]
    pub fn wait_for_held(&self, name: &str, count: u64) {
        let r = self.wait(json!({"held": name, "count": count}));
        assert!(r.is_some(), "{count} requests never waited in hold {name}");
    }

    /// The world's answer to `POST /_world/wait`, or `None` when it timed out.
    fn wait(&self, what: Value) -> Option<Value> {
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}/_world/wait", self.github))
                .json(&what)
                .send()
                .await
                .expect("POST /_world/wait");
            let ok = r.status().is_success();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            ok.then_some(body)
        })
    }

    /// Lets the requests waiting in hold `name` go on (and every later one pass).
    pub fn release_hold(&self, name: &str) -> Value {
        self.post(
            &format!("{}/_world/holds/{name}/release", self.github),
            json!({}),
        )
    }

    /// The holds with how many requests wait in them, were held, and timed out.
    pub fn holds(&self) -> Value {
        self.get(&format!("{}/_world/holds", self.github))
    }

    /// Releases a freeze: blocked requests are dropped unanswered.
    pub fn release(&self) {
        self.send(
            reqwest::Method::DELETE,
            &format!("{}/_world/freeze", self.github),
            json!({}),
        );
    }

    /// The binary with the environment a user of this world would have.
    pub fn cmd(&self) -> Run {
        Run {
            record: Some(self.outputs.clone()),
            forbidden: Some(self.forbidden.clone()),
            args: Vec::new(),
            env: vec![
                ("AWS_ENDPOINT_URL".into(), self.aws.clone()),
                ("AWS_ACCESS_KEY_ID".into(), CALLER_KEY_ID.into()),
                ("AWS_SECRET_ACCESS_KEY".into(), CALLER_SECRET.into()),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("GITHUB_API_URL".into(), self.github.clone()),
                ("GITHUB_TOKEN".into(), TOKEN.into()),
                ("SKYECR_IAM_PROPAGATION_TIMEOUT".into(), "5".into()),
                // The most verbose level, so the secrets check covers every log line.
                ("SKYECR_DEBUG".into(), "1".into()),
            ],
            cwd: self.dir.path().to_path_buf(),
        }
    }

    /// `apply --yes` with the common settings plus `extra`.
    pub fn apply(&self, extra: &[&str]) -> Output {
        self.cmd()
            .args(["apply", "--yes", "--github-repo", REPO, "--branch", "main"])
            .args(extra)
            .run()
    }

    /// `audit --output json` for the seeded repository with `extra`: the run, for its exit code
    /// and its one JSON document.
    pub fn audit_json(&self, extra: &[&str]) -> Output {
        self.cmd()
            .args(["audit", "--output", "json", "--github-repo", REPO])
            .args(extra)
            .run()
    }

    pub fn plan_json(&self, extra: &[&str]) -> Value {
        let out = self
            .cmd()
            .args([
                "plan",
                "--output",
                "json",
                "--github-repo",
                REPO,
                "--branch",
                "main",
            ])
            .args(extra)
            .run();
        out.success();
        out.json()
    }

    pub fn get(&self, url: &str) -> Value {
        self.rt.block_on(async {
            self.http
                .get(url)
                .send()
                .await
                .expect("GET")
                .json::<Value>()
                .await
                .expect("JSON")
        })
    }

    pub fn send(&self, method: reqwest::Method, url: &str, body: Value) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .request(method, url)
                .json(&body)
                .send()
                .await
                .expect("request");
            r.json::<Value>().await.unwrap_or(Value::Null)
        })
    }

    /// A GitHub REST call as the seeded token, e.g. to change things out of band.
    pub fn github_api(&self, method: reqwest::Method, path: &str, body: Value) -> u16 {
        self.rt.block_on(async {
            let mut r = self
                .http
                .request(method, format!("{}{path}", self.github))
                .bearer_auth(TOKEN)
                .header("User-Agent", "skyecr-tests");
            if !body.is_null() {
                r = r.json(&body);
            }
            r.send().await.expect("GitHub call").status().as_u16()
        })
    }

    /// A GET of the GitHub API as the seeded token: the answer's JSON.
    pub fn github_read(&self, path: &str) -> Value {
        self.rt.block_on(async {
            self.http
                .get(format!("{}{path}", self.github))
                .bearer_auth(TOKEN)
                .header("User-Agent", "skyecr-tests")
                .send()
                .await
                .expect("GitHub call")
                .json::<Value>()
                .await
                .unwrap_or(Value::Null)
        })
    }

    /// A second repository with a chosen creation date (immutable subjects from 2026-07-15 on).
    pub fn add_repo(&self, full_name: &str, owner_id: u64, repo_id: u64, created_at: &str) {
        let (owner, repo) = full_name.split_once('/').expect("OWNER/REPO");
        self.post(
            &format!("{}/_standin/repos", self.github),
            json!({"owner": owner, "repo": repo, "owner_id": owner_id, "repo_id": repo_id, "created_at": created_at}),
        );
    }

    pub fn post(&self, url: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, url, body)
    }

    /// The requests both peers saw since the last `clear_requests`.
    pub fn requests(&self) -> Vec<Value> {
        self.get(&format!("{}/_world/requests", self.github))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r["mutating"].as_bool() == Some(true))
            .map(|r| {
                format!(
                    "{} {}",
                    r["protocol"].as_str().unwrap_or(""),
                    r["action"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    pub fn clear_requests(&self) {
        self.send(
            reqwest::Method::DELETE,
            &format!("{}/_world/requests", self.github),
            json!({}),
        );
    }

    pub fn github_state(&self) -> Value {
        self.get(&format!("{}/_standin/repos/{REPO}/state", self.github))
    }

    /// Every fault rule of both sides with how often it fired: `(side, rule, hits)`.
    pub fn fault_hits(&self) -> Vec<(String, Value, u64)> {
        let mut out = Vec::new();
        for (side, url) in [
            ("aws", format!("{}/_proxy/faults", self.aws)),
            ("github", format!("{}/_standin/faults", self.github)),
        ] {
            for r in self.get(&url).as_array().cloned().unwrap_or_default() {
                let hits = r["hits"].as_u64().unwrap_or(0);
                out.push((side.to_string(), r, hits));
            }
        }
        out
    }

    /// Each fault rule fired exactly as often as `expected` says, in the order they were added
    /// (AWS side first).
    #[track_caller]
    pub fn assert_fault_hits(&self, expected: &[u64]) {
        let hits: Vec<u64> = self.fault_hits().iter().map(|(_, _, n)| *n).collect();
        assert_eq!(hits, expected, "fault rules: {:#?}", self.fault_hits());
    }

    pub fn github_faults(&self, rules: Value) {
        self.post(&format!("{}/_standin/faults", self.github), rules);
    }

    pub fn aws_faults(&self, rules: Value) {
        self.post(&format!("{}/_proxy/faults", self.aws), rules);
    }

    fn sdk_config(&self) -> aws_config::SdkConfig {
        self.rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&self.moto)
                .credentials_provider(aws_sdk_iam::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load(),
        )
    }

    /// IAM straight to moto (not through the recording proxy), for arranging and checking state.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config())
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk_config())
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk_config())
    }

    /// A raw ECR JSON call to moto, for settings the SDK omits when false (e.g. `scanOnPush`).
    pub fn ecr_raw(&self, operation: &str, body: Value) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .post(&self.moto)
                .header("X-Amz-Target", format!("AmazonEC2ContainerRegistry_V20150921.{operation}"))
                .header("Content-Type", "application/x-amz-json-1.1")
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0",
                )
                .body(body.to_string())
                .send()
                .await
                .expect("ECR call");
            r.json::<Value>().await.unwrap_or(Value::Null)
        })
    }

    /// Signs `GetCallerIdentity` with a key pair: moto answers with the user's ARN only for a
    /// real key, so this proves a delivered pair works.
    pub fn caller_with(&self, id: &str, secret: &str) -> Option<String> {
        let config = self.rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&self.moto)
                .credentials_provider(aws_sdk_sts::config::Credentials::new(
                    id, secret, None, None, "github",
                ))
                .load(),
        );
        self.rt
            .block_on(
                aws_sdk_sts::Client::new(&config)
                    .get_caller_identity()
                    .send(),
            )
            .ok()
            .and_then(|o| o.arn().map(str::to_string))
    }

    /// The trust policy of `role` as IAM holds it, decoded with `decode_policy`.
    pub fn trust_policy(&self, role: &str) -> Value {
        let got = self
            .block_on(self.iam().get_role().role_name(role).send())
            .unwrap_or_else(|e| panic!("role {role}: {e:?}"));
        decode_policy(
            got.role()
                .and_then(|r| r.assume_role_policy_document())
                .unwrap_or_default(),
        )
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

pub struct Run {
    record: Option<Recorder>,
    /// Where the secrets the run is given are registered for the secrets check.
    forbidden: Option<Forbidden>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Run {
    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.env.retain(|(k, _)| k != key);
        self
    }

    pub fn run(self) -> Output {
        let record = self.record.clone();
        let out = self
            .command()
            .stdin(Stdio::null())
            .output()
            .expect("run skyecr-bootstrap");
        let out = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if let Some(r) = record {
            r.lock().unwrap().push(out.clone());
        }
        out
    }

    /// Where to record its output when it is started some other way than `run`.
    pub fn recording(&self) -> Option<Recording> {
        self.record.clone().map(Recording)
    }

    /// Starts the binary without waiting (crash and concurrency tests).
    pub fn spawn(self) -> Running {
        let record = self.record.clone();
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start skyecr-bootstrap");
        Running { child, record }
    }

    /// The process `run` starts, with its environment, unstarted and with stdio left alone,
    /// e.g. to attach it to a pseudo-terminal.
    pub fn command(&self) -> Command {
        if let Some(forbidden) = &self.forbidden {
            let mut f = forbidden.lock().unwrap();
            for (k, v) in &self.env {
                if (k == "AWS_SECRET_ACCESS_KEY" || k == "GITHUB_TOKEN" || k == "GH_TOKEN")
                    && !f.contains(v)
                {
                    f.push(v.clone());
                }
            }
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skyecr-bootstrap"));
        cmd.args(&self.args).current_dir(&self.cwd);
        // A clean slate: no real AWS or GitHub configuration may leak into a test.
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_REGION",
            "AWS_SESSION_TOKEN",
            "GH_TOKEN",
            "NO_COLOR",
            "GITHUB_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", self.cwd.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.cwd.join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A run of the binary in progress.
pub struct Running {
    child: Child,
    record: Option<Recorder>,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has ended (without reaping it).
    pub fn finished(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGKILL, like a crash or a pulled plug: no cleanup runs.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        self.wait()
    }

    pub fn wait(self) -> Output {
        let out = self
            .child
            .wait_with_output()
            .expect("wait for skyecr-bootstrap");
        let out = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if let Some(r) = self.record {
            r.lock().unwrap().push(out.clone());
        }
        out
    }
}
