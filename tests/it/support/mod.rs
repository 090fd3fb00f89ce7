//! Starts the test world (moto + recording proxy + GitHub stand-in) and runs the real binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const REPO: &str = "acme/app";
pub const TOKEN: &str = "ghp_testtokenallpermissions0000000000";

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
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        }
    }

    /// The binary with the environment a user of this world would have.
    pub fn cmd(&self) -> Run {
        Run {
            args: Vec::new(),
            env: vec![
                ("AWS_ENDPOINT_URL".into(), self.aws.clone()),
                ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("GITHUB_API_URL".into(), self.github.clone()),
                ("GITHUB_TOKEN".into(), TOKEN.into()),
                ("SKYECR_IAM_PROPAGATION_TIMEOUT".into(), "5".into()),
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

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

pub struct Run {
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
        let out = self
            .command()
            .stdin(Stdio::null())
            .output()
            .expect("run skyecr-bootstrap");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The process `run` starts, with its environment, unstarted and with stdio left alone,
    /// e.g. to attach it to a pseudo-terminal.
    pub fn command(&self) -> Command {
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
