//! Injected faults on every mutating call of a fresh `apply`: throttling, 5xx, dropped
//! connections, lost responses and IAM eventual consistency. Either the run converges, or it
//! fails with a message naming what failed and the rerun converges.
use serde_json::{Value, json};

use super::{Mode, assert_clean_failure, assert_converged, clean_state, snapshot, write_log};
use crate::support::{Output, World};

/// One mutating call of a clean apply, as a fault rule matches it: an AWS action, or a GitHub
/// method and path, with the variable's name for the `POST`s that create variables (they all
/// share one path: without the name, only whichever came first would meet the fault).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    Aws(String),
    GitHub {
        method: String,
        path: String,
        name: Option<String>,
    },
}

impl Write {
    fn label(&self) -> String {
        match self {
            Write::Aws(a) => format!("AWS {a}"),
            Write::GitHub { method, path, name } => match name {
                Some(n) => format!("GitHub {method} {path} ({n})"),
                None => format!("GitHub {method} {path}"),
            },
        }
    }

    /// A rule matching this write and no other.
    fn matcher(&self) -> Value {
        match self {
            Write::Aws(a) => json!({"action": a}),
            Write::GitHub { method, path, name } => {
                let mut r =
                    json!({"method": method, "path_regex": format!("^{}$", regex_escape(path))});
                if let Some(n) = name {
                    r["body_regex"] = json!(format!(r#""name"\s*:\s*"{}""#, regex_escape(n)));
                }
                r
            }
        }
    }
}

/// A command run on a prepared world.
struct Case {
    name: &'static str,
    mode: Mode,
    setup: fn(&World),
    command: &'static [&'static str],
}

impl Case {
    fn fresh_apply(mode: Mode) -> Case {
        Case {
            name: "fresh apply",
            mode,
            setup: |_| {},
            command: &["apply", "--yes"],
        }
    }

    fn run(&self, w: &World) -> Output {
        w.cmd().args(self.command).args(self.mode.args()).run()
    }

    /// The state the command leaves when nothing fails.
    fn reference(&self, w: &World) -> Value {
        w.reset();
        (self.setup)(w);
        self.run(w).success();
        snapshot(w)
    }

    /// Its distinct mutating calls (the world is left reset).
    fn writes(&self, w: &World) -> Vec<Write> {
        w.reset();
        (self.setup)(w);
        w.clear_requests();
        self.run(w).success();
        let writes = distinct_writes(w);
        w.reset();
        writes
    }
}

/// The distinct mutating calls of a fresh apply in `mode` (the world is left reset).
fn writes_of_fresh_apply(w: &World, mode: Mode) -> Vec<Write> {
    Case::fresh_apply(mode).writes(w)
}

fn distinct_writes(w: &World) -> Vec<Write> {
    let mut out = Vec::new();
    for l in write_log(w) {
        let write = if l.protocol == "aws" {
            Write::Aws(l.action)
        } else {
            Write::GitHub {
                method: l.method,
                path: l.path,
                name: l.name,
            }
        };
        if !out.contains(&write) {
            out.push(write);
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Throttle,
    Status500,
    Status503,
    Drop,
}

const FAULTS: [Fault; 4] = [
    Fault::Throttle,
    Fault::Status500,
    Fault::Status503,
    Fault::Drop,
];

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A rule for `fault` on `write`, `times` times (`None`: every time).
fn rule(write: &Write, fault: Fault, times: Option<u32>) -> Value {
    let mut r = write.matcher();
    match (write, fault) {
        (Write::Aws(_), Fault::Throttle) => r["throttle"] = json!(true),
        (Write::Aws(_), Fault::Status500) => r["status"] = json!(500),
        (Write::Aws(_), Fault::Status503) => {
            r["status"] = json!(503);
            r["aws_error"] = json!("ServiceUnavailable");
        }
        (Write::Aws(_), Fault::Drop) => r["drop_connection"] = json!(true),
        (Write::GitHub { .. }, fault) => {
            match fault {
                // GitHub's throttling: a secondary rate limit with a short retry-after.
                Fault::Throttle => {
                    r["secondary"] = json!(true);
                    r["reset_in"] = json!(1);
                }
                Fault::Status500 => r["status"] = json!(500),
                Fault::Status503 => r["status"] = json!(503),
                Fault::Drop => r["drop_connection"] = json!(true),
            }
        }
    }
    r["times"] = times.map_or(Value::Null, |t| json!(t));
    r
}

fn inject(w: &World, write: &Write, rule: Value) {
    match write {
        Write::Aws(_) => w.aws_faults(rule),
        Write::GitHub { .. } => w.github_faults(rule),
    }
}

/// How often each injected rule fired, per side.
fn hits(w: &World) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (side, url) in [
        ("aws", format!("{}/_proxy/faults", w.aws)),
        ("github", format!("{}/_standin/faults", w.github)),
    ] {
        for r in w.get(&url).as_array().cloned().unwrap_or_default() {
            let what = r["action"]
                .as_str()
                .or(r["path_regex"].as_str())
                .or(r["consistency"].as_str())
                .unwrap_or("?");
            let label = match r["body_regex"].as_str() {
                Some(body) => format!("{side} {what} (body {body})"),
                None => format!("{side} {what}"),
            };
            out.push((label, r["hits"].as_u64().unwrap_or(0)));
        }
    }
    out
}

/// Each fault kind on every mutating call at once (each fires once): the SDK's retry and the
/// GitHub client's retry absorb them, and the run converges in one go.
fn transient_faults_converge(case: &Case) {
    let w = World::start();
    let mode = case.mode;
    let clean = case.reference(&w);
    let writes = case.writes(&w);
    assert!(writes.len() >= 2, "{writes:?}");
    for fault in FAULTS {
        w.reset();
        (case.setup)(&w);
        w.clear_requests();
        for write in &writes {
            inject(&w, write, rule(write, fault, Some(1)));
        }
        let out = case.run(&w);
        let context = format!(
            "{mode:?} {}, {fault:?} once on each of {} writes",
            case.name,
            writes.len()
        );
        if out.code != 0 {
            // The one non-idempotent write is not retried after an ambiguous failure (the key
            // may exist): the run stops saying so, and the rerun finishes.
            assert!(
                !matches!(fault, Fault::Throttle)
                    && out.stderr.contains("iam:CreateAccessKey")
                    && out.stderr.contains("rerun"),
                "{context}: apply did not converge\n{}",
                out.stderr
            );
            assert_clean_failure(&out, &context);
            let rerun = case.run(&w);
            assert_eq!(rerun.code, 0, "{context}: rerun\n{}", rerun.stderr);
        }
        for (what, n) in hits(&w) {
            assert_eq!(n, 1, "{context}: the fault on {what} fired {n} times");
        }
        assert_converged(&w, mode, &clean, &context);
    }
}

#[test]
fn transient_faults_on_every_write_converge_oidc() {
    transient_faults_converge(&Case::fresh_apply(Mode::Oidc));
}

#[test]
fn transient_faults_on_every_write_converge_access_key() {
    transient_faults_converge(&Case::fresh_apply(Mode::AccessKey));
}

/// The update calls: a new client ID on a reused provider, a trust policy rewrite, an attach,
/// a policy version replacing the oldest of five, scan on push turned back on.
#[test]
fn transient_faults_on_every_update_converge() {
    transient_faults_converge(&Case {
        name: "apply over drift",
        mode: Mode::Oidc,
        setup: super::least_privilege::drift,
        command: &["apply", "--yes"],
    });
}

/// Rotation: pending mark, new key, both secrets, record, old key deleted.
#[test]
fn transient_faults_on_every_rotation_write_converge() {
    transient_faults_converge(&Case {
        name: "rotate-keys",
        mode: Mode::AccessKey,
        setup: |w| {
            Mode::AccessKey.apply(w).success();
        },
        command: &["rotate-keys", "--yes"],
    });
}

/// A fault that never goes away on one write: the run fails with a message naming the call,
/// and once the fault is gone the rerun converges. Each write gets a different fault kind in
/// turn, so every kind is exhausted on several writes of both services.
fn persistent_faults_fail_clearly_and_the_rerun_converges(mode: Mode) {
    let w = World::start();
    let clean = clean_state(&w, mode);
    let writes = writes_of_fresh_apply(&w, mode);
    for (i, write) in writes.iter().enumerate() {
        let fault = FAULTS[i % FAULTS.len()];
        let context = format!("{mode:?}, {fault:?} on every {}", write.label());
        w.reset();
        inject(&w, write, rule(write, fault, None));
        let out = mode.apply(&w);
        assert_clean_failure(&out, &context);
        // The error line names the call: `AWS SERVICE:ACTION failed`, GitHub's method with the
        // path, or GitHub's rate limit (which applies to every call, not to this one).
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        let named = match write {
            Write::Aws(action) => {
                error.contains(&format!("AWS iam:{action} failed"))
                    || error.contains(&format!("AWS ecr:{action} failed"))
            }
            Write::GitHub { method, path, .. } => {
                error.contains(&format!("{method} {path}"))
                    || (matches!(fault, Fault::Throttle) && error.contains("rate limit"))
            }
        };
        assert!(
            named,
            "{context}: the error does not say what failed\n{}",
            out.stderr
        );
        for (what, n) in hits(&w) {
            assert!(n >= 1, "{context}: the fault on {what} never fired");
        }
        w.send(
            reqwest::Method::DELETE,
            &format!("{}/_proxy/faults", w.aws),
            json!({}),
        );
        w.send(
            reqwest::Method::DELETE,
            &format!("{}/_standin/faults", w.github),
            json!({}),
        );
        let rerun = mode.apply(&w);
        assert_eq!(
            rerun.code, 0,
            "{context}: the rerun failed\n{}",
            rerun.stderr
        );
        assert_converged(&w, mode, &clean, &context);
    }
}

#[test]
fn persistent_faults_fail_clearly_and_the_rerun_converges_oidc() {
    persistent_faults_fail_clearly_and_the_rerun_converges(Mode::Oidc);
}

#[test]
fn persistent_faults_fail_clearly_and_the_rerun_converges_access_key() {
    persistent_faults_fail_clearly_and_the_rerun_converges(Mode::AccessKey);
}

/// The write reaches AWS or GitHub but the answer is lost: the client's retry finds the
/// resource already there (or the run fails and the rerun finds it); either way no duplicate.
fn lost_responses_leave_no_duplicate(mode: Mode) {
    let w = World::start();
    let clean = clean_state(&w, mode);
    let writes = writes_of_fresh_apply(&w, mode);
    for write in &writes {
        let context = format!("{mode:?}, response of {} lost", write.label());
        w.reset();
        let mut r = write.matcher();
        r["lose_response"] = json!(true);
        r["times"] = json!(1);
        inject(&w, write, r);
        let first = mode.apply(&w);
        assert_eq!(
            hits(&w).into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
            vec![1],
            "{context}: the lost answer never happened"
        );
        if first.code != 0 {
            assert_clean_failure(&first, &context);
            let rerun = mode.apply(&w);
            assert_eq!(rerun.code, 0, "{context}: rerun\n{}", rerun.stderr);
        }
        assert_converged(&w, mode, &clean, &context);
    }
}

#[test]
fn lost_responses_leave_no_duplicate_oidc() {
    lost_responses_leave_no_duplicate(Mode::Oidc);
}

#[test]
fn lost_responses_leave_no_duplicate_access_key() {
    lost_responses_leave_no_duplicate(Mode::AccessKey);
}

/// IAM's eventual consistency, shorter than the propagation budget (5 s in the tests): the
/// role waits for the provider, attaches wait for the role, policy and user; one run.
#[test]
fn consistency_windows_are_waited_out() {
    let w = World::start();
    for mode in [Mode::Oidc, Mode::AccessKey] {
        let clean = clean_state(&w, mode);
        // Counted, not timed: the next request that names a new entity fails, however slow
        // the machine is (one run shares one propagation budget across all its waits).
        w.aws_faults(json!([
            {"consistency": "invalid_principal", "count": 1},
            {"consistency": "no_such_entity", "count": 1},
        ]));
        let out = mode.apply(&w);
        assert_eq!(out.code, 0, "{mode:?}: {}", out.stderr);
        let fired: Vec<(String, u64)> = hits(&w);
        let expected: &[&str] = match mode {
            Mode::Oidc => &["invalid_principal", "no_such_entity"],
            Mode::AccessKey => &["no_such_entity"],
        };
        for kind in expected {
            assert!(
                fired.iter().any(|(what, n)| what.ends_with(kind) && *n > 0),
                "{mode:?}: the {kind} window never fired: {fired:?}"
            );
        }
        assert_converged(
            &w,
            mode,
            &clean,
            &format!("{mode:?} with consistency windows"),
        );
    }
}

/// A window longer than the budget: the run stops with what to do, the rerun finishes.
#[test]
fn a_consistency_window_beyond_the_budget_stops_with_rerun_advice() {
    let w = World::start();
    let clean = clean_state(&w, Mode::Oidc);
    // The provider never becomes visible while the run waits: past the 5 s budget it stops.
    w.aws_faults(json!({"consistency": "invalid_principal", "count": null}));
    let out = Mode::Oidc.apply(&w);
    assert_clean_failure(&out, "invalid principal for good");
    assert!(
        out.stderr.contains("iam:CreateRole") && out.stderr.contains("rerun"),
        "{}",
        out.stderr
    );
    w.send(
        reqwest::Method::DELETE,
        &format!("{}/_proxy/faults", w.aws),
        json!({}),
    );
    let rerun = Mode::Oidc.apply(&w);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_converged(&w, Mode::Oidc, &clean, "after the long window");
}

/// The proxy renders throttling in each protocol's real wire format.
#[test]
fn throttling_uses_each_protocols_wire_format() {
    let w = World::start();
    w.aws_faults(json!([
        {"action": "ListRoles", "throttle": true, "times": 1},
        {"action": "DescribeRepositories", "throttle": true, "times": 1},
    ]));
    let iam = w.block_on(async {
        reqwest::Client::new()
            .post(&w.aws)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
            .body("Action=ListRoles&Version=2010-05-08")
            .send()
            .await
            .unwrap()
    });
    assert_eq!(iam.status().as_u16(), 400);
    let body = w.block_on(iam.text()).unwrap();
    assert!(
        body.contains("<Code>Throttling</Code>") && body.contains("<Type>Sender</Type>"),
        "{body}"
    );
    let ecr = w.block_on(async {
        reqwest::Client::new()
            .post(&w.aws)
            .header("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0")
            .body("{}")
            .send()
            .await
            .unwrap()
    });
    assert_eq!(ecr.status().as_u16(), 400);
    assert_eq!(
        ecr.headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok()),
        Some("ThrottlingException")
    );
    let body: Value = w.block_on(ecr.json()).unwrap();
    assert_eq!(body["__type"], "ThrottlingException", "{body}");
}

/// An AWS endpoint that accepts a call and does not answer: the attempt is abandoned after
/// `SKYECR_AWS_ATTEMPT_TIMEOUT` seconds and retried; a call that never answers fails the run
/// with the call named, and the rerun converges.
#[test]
fn a_call_that_hangs_is_abandoned_and_retried() {
    let w = World::start();
    let clean = clean_state(&w, Mode::Oidc);
    let apply = |w: &World| {
        w.cmd()
            .env("SKYECR_AWS_ATTEMPT_TIMEOUT", "1")
            .args(["apply", "--yes"])
            .args(Mode::Oidc.args())
            .run()
    };
    // The first attempt of each call is held by the world and never answered while the run
    // lasts: the tool must give up on it (after 1 s) and try again.
    w.aws_faults(json!([
        {"action": "GetRole", "hold": "hang", "times": 1, "timeout_s": 20},
        {"action": "CreatePolicy", "hold": "hang", "times": 1, "timeout_s": 20},
        {"action": "CreateRole", "hold": "hang", "times": 1, "timeout_s": 20},
    ]));
    let out = apply(&w);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // All three were held, and none was waited for until the world let it go (20 s).
    let hang = w.holds()[0].clone();
    assert_eq!(
        (&hang["held"], &hang["timeouts"]),
        (&json!(3), &json!(0)),
        "{hang}"
    );
    // The abandoned attempts go on to moto now (and find the resources made by the retries).
    w.release_hold("hang");
    assert_converged(&w, Mode::Oidc, &clean, "one unanswered attempt per call");

    w.reset();
    w.aws_faults(json!({"action": "DescribeRepositories", "hold": "forever", "times": null}));
    let hung = apply(&w);
    w.release_hold("forever");
    assert_clean_failure(&hung, "a call that never answers");
    assert!(
        hung.stderr.contains("ecr:DescribeRepositories") && hung.stderr.contains("timed out"),
        "{}",
        hung.stderr
    );
    w.send(
        reqwest::Method::DELETE,
        &format!("{}/_proxy/faults", w.aws),
        json!({}),
    );
    let rerun = apply(&w);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_converged(&w, Mode::Oidc, &clean, "after the hang");
}

/// GitHub answers that break off halfway (full headers, part of the body, connection closed)
/// are retried, never read as empty answers: on a converged setup the rerun still writes
/// nothing. An answer that always breaks off stops the run with the call named.
#[test]
fn github_answers_that_break_off_are_retried_not_misread() {
    let w = World::start();
    Mode::Oidc.apply(&w).success();
    let cut = |path: &str, times: Value| json!({"method": "GET", "path_regex": path, "cut_body_at": 8, "times": times});
    w.github_faults(json!([
        cut("^/repos/acme/app$", json!(1)),
        cut("/actions/variables$", json!(1)),
        cut("/actions/secrets$", json!(1)),
        cut("/secrets/public-key$", json!(1)),
    ]));
    w.clear_requests();
    let out = Mode::Oidc.apply(&w);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("No changes"), "{}", out.stdout);
    assert_eq!(w.writes(), Vec::<String>::new());
    for (what, n) in hits(&w) {
        assert_eq!(n, 1, "the cut on {what} fired {n} times");
    }

    w.github_faults(json!([cut("/actions/variables$", json!(null))]));
    let broken = Mode::Oidc.apply(&w);
    assert_clean_failure(&broken, "an answer that always breaks off");
    assert!(
        broken.stderr.contains("/actions/variables") && broken.stderr.contains("broke off"),
        "{}",
        broken.stderr
    );
}
