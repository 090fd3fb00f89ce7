//! The world's own behaviours (tests/support), each shown to work, and the tool against the
//! ones that copy GitHub and AWS more strictly than before.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{Value, json};

use super::{Mode, assert_clean_failure, assert_converged, clean_state, write_log};
use crate::support::{ACCOUNT, REPO, TOKEN, World};

/// An answer: status, headers (lower-cased names) and body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One HTTP/1.1 request on its own connection, with nothing but std: usable from any thread
/// (a request the world holds blocks only the thread that sent it).
fn raw(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to the world");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("send");
    s.write_all(body.as_bytes()).expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let (top, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = top.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A GitHub REST call with `token`.
fn gh(w: &World, method: &str, path: &str, token: &str, body: Value) -> Answer {
    let auth = format!("Bearer {token}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    raw(
        &w.github,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("User-Agent", "skyecr-tests"),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
}

/// An IAM query-protocol call through the proxy, signed as `caller` (moto checks nothing).
fn iam(w: &World, caller: &str, params: &[(&str, &str)]) -> Answer {
    let mut body = String::from("Version=2010-05-08");
    for (k, v) in params {
        let v: String =
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        body.push_str(&format!("&{k}={v}"));
    }
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={caller}/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
    );
    raw(
        &w.aws,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &auth),
        ],
        &body,
    )
}

fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

fn rules(w: &World, side: &str) -> Vec<Value> {
    let url = match side {
        "aws" => format!("{}/_proxy/faults", w.aws),
        _ => format!("{}/_standin/faults", w.github),
    };
    w.get(&url).as_array().cloned().unwrap_or_default()
}

fn token(w: &World, body: Value) {
    w.post(&format!("{}/_standin/tokens", w.github), body);
}

const TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;

#[test]
fn every_key_pair_iam_issues_is_recorded_in_order() {
    let w = World::start();
    assert_eq!(
        iam(&w, "admin", &[("Action", "CreateUser"), ("UserName", "u")]).status,
        200
    );
    let mut issued = Vec::new();
    for _ in 0..2 {
        let a = iam(
            &w,
            "admin",
            &[("Action", "CreateAccessKey"), ("UserName", "u")],
        );
        assert_eq!(a.status, 200, "{}", a.body);
        issued.push((
            xml_values(&a.body, "AccessKeyId")[0].clone(),
            xml_values(&a.body, "SecretAccessKey")[0].clone(),
        ));
    }
    // A key made straight in moto did not pass the proxy.
    w.block_on(w.iam().create_user().user_name("v").send())
        .unwrap();
    w.block_on(w.iam().create_access_key().user_name("v").send())
        .unwrap();
    let recorded: Vec<(String, String, String)> = w
        .issued_keys()
        .into_iter()
        .map(|k| (k.user, k.id, k.secret))
        .collect();
    assert_eq!(
        recorded,
        issued
            .iter()
            .map(|(id, secret)| ("u".to_string(), id.clone(), secret.clone()))
            .collect::<Vec<_>>()
    );
    let newest = w.newest_key_of("u").unwrap();
    assert_eq!((newest.id, newest.secret), issued[1].clone());
    assert_eq!(w.newest_key_of("nobody"), None);
}

#[test]
fn a_rule_matches_the_body_and_the_nth_request() {
    let w = World::start();
    w.github_faults(json!([
        {"method": "POST", "path_regex": "/actions/variables$", "body_regex": r#""name":\s*"B""#, "status": 500},
        {"method": "POST", "path_regex": "/actions/variables$", "after": 2, "status": 503},
    ]));
    let statuses: Vec<u16> = ["A", "B", "C", "D"]
        .iter()
        .map(|n| {
            gh(
                &w,
                "POST",
                "/repos/acme/app/actions/variables",
                TOKEN,
                json!({"name": n, "value": "v"}),
            )
            .status
        })
        .collect();
    // B meets the body rule; the other rule lets two of the requests it sees pass (A, C) and
    // faults the next (D).
    assert_eq!(statuses, vec![201, 500, 201, 503]);
    let logged: Vec<Option<String>> = write_log(&w).into_iter().map(|l| l.name).collect();
    assert_eq!(
        logged,
        ["A", "B", "C", "D"].map(|n| Some(n.to_string())).to_vec()
    );
    assert_eq!(
        rules(&w, "github")
            .iter()
            .map(|r| r["hits"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(1)]
    );

    // The AWS side: by body, and reads apart from writes.
    w.aws_faults(json!([
        {"action": "CreateRole", "body_regex": "RoleName=second", "status": 500},
        {"action_regex": ".*", "mutating": false, "status": 503, "times": 1},
    ]));
    let create = |name: &str| {
        iam(
            &w,
            "admin",
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .status
    };
    assert_eq!([create("first"), create("second")], [200, 500]);
    assert_eq!(iam(&w, "admin", &[("Action", "ListRoles")]).status, 503);
    assert_eq!(iam(&w, "admin", &[("Action", "ListRoles")]).status, 200);
}

#[test]
fn rotate_key_makes_the_write_meet_a_key_it_did_not_read() {
    let w = World::start();
    let key = gh(
        &w,
        "GET",
        "/repos/acme/app/actions/secrets/public-key",
        TOKEN,
        Value::Null,
    )
    .json();
    w.github_faults(
        json!({"method": "PUT", "path_regex": "/actions/secrets/", "rotate_key": true}),
    );
    let put = gh(
        &w,
        "PUT",
        "/repos/acme/app/actions/secrets/X",
        TOKEN,
        json!({"encrypted_value": "AAAA", "key_id": key["key_id"]}),
    );
    assert_eq!(put.status, 422);
    assert!(
        put.body.contains("does not match the current public key"),
        "{}",
        put.body
    );
    let again = gh(
        &w,
        "GET",
        "/repos/acme/app/actions/secrets/public-key",
        TOKEN,
        Value::Null,
    )
    .json();
    assert_ne!(again["key_id"], key["key_id"]);
    assert_eq!(rules(&w, "github")[0]["hits"], 1);
}

#[test]
fn holds_open_when_released_or_when_enough_callers_wait() {
    let w = World::start();
    // Released by the test.
    w.github_faults(json!({"method": "GET", "path_regex": "^/repos/acme/app$", "hold": "h"}));
    let base = w.github.clone();
    let held = std::thread::spawn(move || {
        raw(
            &base,
            "GET",
            "/repos/acme/app",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("User-Agent", "t"),
            ],
            "",
        )
        .status
    });
    w.wait_for_held("h", 1);
    assert_eq!(w.holds()[0]["waiting"], 1);
    assert!(
        !held.is_finished(),
        "the request went on before the release"
    );
    w.release_hold("h");
    assert_eq!(held.join().unwrap(), 200);

    // Opened by the second caller: two requests of one caller wait, the other caller's frees all.
    token(
        &w,
        json!({"token": "ghp_second_caller_00000000", "permissions": "all"}),
    );
    w.github_faults(json!({"method": "GET", "path_regex": "^/user$", "hold": "race", "until_callers": 2, "times": null}));
    let call = |tok: &'static str| {
        let base = w.github.clone();
        std::thread::spawn(move || {
            raw(
                &base,
                "GET",
                "/user",
                &[
                    ("Authorization", &format!("Bearer {tok}")),
                    ("User-Agent", "t"),
                ],
                "",
            )
            .status
        })
    };
    let first = call(TOKEN);
    let second = call(TOKEN);
    w.wait_for_held("race", 2);
    assert!(!first.is_finished() && !second.is_finished());
    let other = call("ghp_second_caller_00000000");
    assert_eq!(
        [
            first.join().unwrap(),
            second.join().unwrap(),
            other.join().unwrap()
        ],
        [200, 200, 200]
    );
    let race = w
        .holds()
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "race")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            race["open"].clone(),
            race["held"].clone(),
            race["callers"].clone(),
            race["timeouts"].clone()
        ),
        (json!(true), json!(3), json!(2), json!(0))
    );
}

#[test]
fn waiting_for_writes_answers_when_they_happened() {
    let w = World::start();
    let wait = |k: u64, timeout: f64| {
        raw(
            &w.github,
            "POST",
            "/_world/wait",
            &[("Content-Type", "application/json")],
            &json!({"mutating": k, "timeout_s": timeout}).to_string(),
        )
        .status
    };
    assert_eq!(wait(1, 0.2), 408);
    gh(
        &w,
        "POST",
        "/repos/acme/app/actions/variables",
        TOKEN,
        json!({"name": "A", "value": "v"}),
    );
    assert_eq!(wait(1, 5.0), 200);
    w.wait_for_writes(1);
}

#[test]
fn consistency_can_last_a_number_of_requests() {
    let w = World::start();
    w.aws_faults(json!({"consistency": "no_such_entity", "count": 2}));
    let create = iam(
        &w,
        "admin",
        &[
            ("Action", "CreateRole"),
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", TRUST),
        ],
    );
    assert_eq!(create.status, 200);
    let reads: Vec<u16> = (0..3)
        .map(|_| iam(&w, "admin", &[("Action", "GetRole"), ("RoleName", "r")]).status)
        .collect();
    assert_eq!(reads, vec![404, 404, 200]);
}

/// Seconds since the epoch of GitHub's `YYYY-MM-DDTHH:MM:SSZ`.
fn epoch(ts: &str) -> i64 {
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

#[test]
fn the_stand_ins_clock_moves_on_without_waiting() {
    let w = World::start();
    gh(
        &w,
        "POST",
        "/repos/acme/app/actions/variables",
        TOKEN,
        json!({"name": "A", "value": "1"}),
    );
    let before = w.github_state()["variables"]["A"]["updated_at"]
        .as_str()
        .unwrap()
        .to_string();
    w.post(
        &format!("{}/_standin/clock", w.github),
        json!({"advance_s": 3600}),
    );
    gh(
        &w,
        "PATCH",
        "/repos/acme/app/actions/variables/A",
        TOKEN,
        json!({"value": "2"}),
    );
    let after = w.github_state()["variables"]["A"]["updated_at"]
        .as_str()
        .unwrap()
        .to_string();
    let moved = epoch(&after) - epoch(&before);
    assert!((3600..3700).contains(&moved), "{before} -> {after}");
}

#[test]
fn secondary_rate_limits_come_in_githubs_forms() {
    let w = World::start();
    let form = |rule: Value| {
        w.send(
            reqwest::Method::DELETE,
            &format!("{}/_standin/faults", w.github),
            json!({}),
        );
        let mut r =
            json!({"method": "GET", "path_regex": "^/user$", "secondary": true, "reset_in": 30});
        for (k, v) in rule.as_object().unwrap() {
            r[k] = v.clone();
        }
        w.github_faults(r);
        gh(&w, "GET", "/user", TOKEN, Value::Null)
    };
    let a = form(json!({}));
    assert_eq!((a.status, a.header("retry-after")), (429, Some("30")));
    let b = form(json!({"status": 403, "retry_after": false}));
    assert_eq!((b.status, b.header("retry-after")), (403, None));
    assert_ne!(b.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        b.json()["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit"),
        "{}",
        b.body
    );
    let c = form(json!({"status": 403, "retry_after": false, "exhausted": true}));
    assert_eq!(
        (c.status, c.header("x-ratelimit-remaining")),
        (403, Some("0"))
    );
    let reset: u64 = c.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 20..=now + 40).contains(&reset), "{reset} vs {now}");
}

/// Every form GitHub documents: waited out when it says how long (a short wait), stopped with a
/// rate-limit message otherwise, never taken for a missing permission.
#[test]
fn the_tool_reads_every_secondary_rate_limit_form_as_a_rate_limit() {
    let w = World::start();
    let clean = clean_state(&w, Mode::Oidc);
    let put = "/actions/secrets/AWS_ECR_ROLE_ARN$";
    for (form, rule) in [
        ("429 with retry-after", json!({"status": 429})),
        ("403 with retry-after", json!({"status": 403})),
        (
            "403 with the reset time",
            json!({"status": 403, "retry_after": false, "exhausted": true}),
        ),
        (
            "429 with the reset time",
            json!({"status": 429, "retry_after": false, "exhausted": true}),
        ),
    ] {
        w.reset();
        let mut r = json!({"method": "PUT", "path_regex": put, "secondary": true, "reset_in": 1, "times": 1});
        for (k, v) in rule.as_object().unwrap() {
            r[k] = v.clone();
        }
        w.github_faults(r);
        let out = Mode::Oidc.apply(&w);
        assert_eq!(out.code, 0, "{form}: {}", out.stderr);
        assert_eq!(rules(&w, "github")[0]["hits"], 1, "{form}: never limited");
        assert_converged(&w, Mode::Oidc, &clean, form);
    }
    for (form, status) in [("403 without a wait", 403), ("429 without a wait", 429)] {
        w.reset();
        w.github_faults(
            json!({"method": "PUT", "path_regex": put, "secondary": true,
                               "status": status, "retry_after": false, "times": null}),
        );
        let out = Mode::Oidc.apply(&w);
        assert_clean_failure(&out, form);
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            error.contains("rate limit")
                && !error.contains("permission")
                && !error.contains("refused"),
            "{form}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("rerun"), "{form}: {}", out.stderr);
        w.send(
            reqwest::Method::DELETE,
            &format!("{}/_standin/faults", w.github),
            json!({}),
        );
        Mode::Oidc.apply(&w).success();
        assert_converged(&w, Mode::Oidc, &clean, form);
    }
}

#[test]
fn classic_tokens_are_checked_against_their_scopes() {
    let w = World::start();
    let classic = "ghp_classic_public_repo_only0000";
    token(
        &w,
        json!({"token": classic, "kind": "classic", "scopes": ["public_repo"], "login": "acme", "user_id": 1001}),
    );
    let repo = gh(&w, "GET", "/repos/acme/app", classic, Value::Null);
    assert_eq!(
        (repo.status, repo.header("x-oauth-scopes")),
        (200, Some("public_repo"))
    );
    let key = gh(
        &w,
        "GET",
        "/repos/acme/app/actions/secrets/public-key",
        classic,
        Value::Null,
    );
    assert_eq!(key.status, 403);
    assert_eq!(key.header("x-accepted-oauth-scopes"), Some("repo"));
    assert_eq!(key.header("x-accepted-github-permissions"), None);

    // The tool names what a classic token needs, and writes nothing.
    w.clear_requests();
    let out = w
        .cmd()
        .env("GITHUB_TOKEN", classic)
        .args(["apply", "--yes"])
        .args(Mode::Oidc.args())
        .run();
    assert_clean_failure(&out, "classic token without repo");
    assert!(
        out.stderr.contains("classic token: `repo`"),
        "{}",
        out.stderr
    );
    assert_eq!(write_log(&w), Vec::new());

    let full = "ghp_classic_with_repo_scope00000";
    token(
        &w,
        json!({"token": full, "kind": "classic", "scopes": ["repo"], "login": "acme", "user_id": 1001}),
    );
    w.cmd()
        .env("GITHUB_TOKEN", full)
        .args(["apply", "--yes"])
        .args(Mode::Oidc.args())
        .run()
        .success();
}

#[test]
fn a_repository_is_named_as_github_spells_it() {
    let w = World::start();
    w.add_repo("Octo-Org/Hello-World", 3001, 3002, "2020-01-01T00:00:00Z");
    let got = gh(&w, "GET", "/repos/OCTO-ORG/hello-world", TOKEN, Value::Null).json();
    assert_eq!(got["full_name"], "Octo-Org/Hello-World");
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            "octo-org/hello-world",
            "--branch",
            "main",
        ])
        .run()
        .success();
    // Subjects are compared case-sensitively by IAM: they must carry GitHub's spelling.
    assert_eq!(
        w.trust_policy("GitHubActions-SkyPilot-ECR")["Statement"][0]["Condition"],
        json!({"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:repository_id": "3002",
            "token.actions.githubusercontent.com:repository_owner_id": "3001",
            "token.actions.githubusercontent.com:sub": [
                "repo:Octo-Org/Hello-World:ref:refs/heads/main",
                "repo:Octo-Org@3001/Hello-World@3002:ref:refs/heads/main",
            ],
        }})
    );
}

#[test]
fn the_organizations_subject_template_is_served() {
    let w = World::start();
    let path = "/orgs/acme/actions/oidc/customization/sub";
    assert_eq!(
        gh(&w, "GET", path, TOKEN, Value::Null).json(),
        json!({"include_claim_keys": []})
    );
    assert_eq!(
        gh(
            &w,
            "GET",
            "/orgs/nobody/actions/oidc/customization/sub",
            TOKEN,
            Value::Null
        )
        .status,
        404
    );
    let keys = json!(["repository_owner_id", "repository_id", "context"]);
    assert_eq!(
        gh(&w, "PUT", path, TOKEN, json!({"include_claim_keys": keys})).status,
        201
    );
    assert_eq!(
        gh(
            &w,
            "GET",
            "/orgs/ACME/actions/oidc/customization/sub",
            TOKEN,
            Value::Null
        )
        .json(),
        json!({"include_claim_keys": keys})
    );
    assert_eq!(
        gh(&w, "PUT", path, TOKEN, json!({"include_claim_keys": []})).status,
        422
    );
    // A classic token needs read:org, which admin:org includes.
    for (scopes, status) in [(json!(["repo"]), 403), (json!(["admin:org"]), 200)] {
        token(
            &w,
            json!({"token": "ghp_classic_org_0000000000", "kind": "classic", "scopes": scopes}),
        );
        assert_eq!(
            gh(&w, "GET", path, "ghp_classic_org_0000000000", Value::Null).status,
            status,
            "{scopes}"
        );
    }

    // A repository whose template says "not the default" without keys of its own gets the
    // organization's from GitHub, and the tool reads it: the trust lists the subject GitHub
    // issues under the organization's template.
    w.post(
        &format!("{}/_standin/repos/{REPO}/seed", w.github),
        json!({"oidc_sub": {"use_default": false, "include_claim_keys": []}}),
    );
    Mode::Oidc.apply(&w).success();
    let role = w
        .block_on(
            w.iam()
                .get_role()
                .role_name("GitHubActions-SkyPilot-ECR")
                .send(),
        )
        .unwrap();
    let trust = skyecr_bootstrap::policy::decode_document(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default(),
    )
    .unwrap();
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"],
        json!(["repository_owner_id:1001:repository_id:2002:ref:refs/heads/main"])
    );
}

#[test]
fn iam_listings_are_paged_and_url_encoded_like_aws() {
    let w = World::start();
    for i in 0..3 {
        let name = format!("r{i}");
        assert_eq!(
            iam(
                &w,
                "admin",
                &[
                    ("Action", "CreateRole"),
                    ("RoleName", &name),
                    ("AssumeRolePolicyDocument", TRUST)
                ]
            )
            .status,
            200
        );
    }
    w.post(
        &format!("{}/_proxy/paging", w.aws),
        json!({"ListRoles": 2, "GetAccountAuthorizationDetails": 2}),
    );
    for action in ["ListRoles", "GetAccountAuthorizationDetails"] {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut params = vec![("Action", action)];
            if action == "GetAccountAuthorizationDetails" {
                params.push(("Filter.member.1", "Role"));
            }
            if let Some(m) = &marker {
                params.push(("Marker", m.as_str()));
            }
            let page = iam(&w, "admin", &params);
            assert_eq!(page.status, 200, "{}", page.body);
            pages += 1;
            let here = xml_values(&page.body, "RoleName");
            assert!(here.len() <= 2, "{action}: {} items on a page", here.len());
            names.extend(here);
            // The documents are URL-encoded, like AWS's (moto sends them as JSON).
            for doc in xml_values(&page.body, "AssumeRolePolicyDocument") {
                assert!(
                    doc.starts_with("%7B") && !doc.contains('{'),
                    "{action}: {doc}"
                );
                assert_eq!(
                    crate::support::decode_policy(&doc),
                    serde_json::from_str::<Value>(TRUST).unwrap()
                );
            }
            let truncated = xml_values(&page.body, "IsTruncated") == ["true"];
            marker = xml_values(&page.body, "Marker").into_iter().next();
            assert_eq!(truncated, marker.is_some(), "{action}: {}", page.body);
            if !truncated {
                break;
            }
        }
        names.sort();
        assert_eq!(names, ["r0", "r1", "r2"], "{action}");
        assert_eq!(pages, 2, "{action}");
    }
}

/// The tool follows IAM's markers: with one item per page, the push policy is found on a later
/// page of GetAccountAuthorizationDetails, and every role of the account on ListRoles'.
#[test]
fn the_tool_pages_through_iam_listings() {
    let w = World::start();
    let clean = clean_state(&w, Mode::Oidc);
    let iam_client = w.iam();
    // Policies listed before the push policy in any order IAM might use (created earlier,
    // named before it).
    for i in 0..3 {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        w.block_on(
            iam_client
                .create_policy()
                .policy_name(format!("A-policy-{i}"))
                .policy_document(doc.to_string())
                .send(),
        )
        .unwrap();
    }
    w.post(
        &format!("{}/_proxy/paging", w.aws),
        json!({"ListRoles": 1, "GetAccountAuthorizationDetails": 1}),
    );
    Mode::Oidc.apply(&w).success();
    w.clear_requests();
    let rerun = Mode::Oidc.apply(&w);
    rerun.success();
    assert_eq!(
        write_log(&w),
        Vec::new(),
        "the rerun found everything: {}",
        rerun.stdout
    );
    let pages = w
        .requests()
        .iter()
        .filter(|r| r["action"] == "GetAccountAuthorizationDetails")
        .count();
    assert!(pages >= 2, "the listing was not paged ({pages} pages)");
    let mut now = super::snapshot(&w);
    now["policies"]
        .as_array_mut()
        .unwrap()
        .retain(|p| !p["name"].as_str().unwrap().starts_with("A-policy-"));
    assert_eq!(now, clean);

    // audit --all-roles reads every role, page by page, with URL-encoded trust documents.
    let provider =
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com");
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "*"}}}]});
    for name in ["a-service-role", "legacy-deployer", "z-service-role"] {
        let doc = if name == "legacy-deployer" {
            wide.to_string()
        } else {
            TRUST.to_string()
        };
        w.block_on(
            iam_client
                .create_role()
                .role_name(name)
                .assume_role_policy_document(doc)
                .send(),
        )
        .unwrap();
    }
    let out = w
        .cmd()
        .args(["audit", "--all-roles", "--output", "json"])
        .args(Mode::Oidc.args())
        .run();
    let report = out.json();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "legacy-deployer" && f["id"] == "trust-sub-any-owner"),
        "{report:#}"
    );
    let listed = w
        .requests()
        .iter()
        .filter(|r| r["action"] == "ListRoles")
        .count();
    assert!(listed >= 4, "ListRoles was not paged ({listed} pages)");
}

/// The secrets check finds a secret in every form it claims to, wherever the tool put it.
#[test]
fn the_secrets_check_finds_every_form() {
    use base64::Engine;
    let w = World::start();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSECRETKEY";
    w.forbid(secret);
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let wrapped: String = secret
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            if i == 17 {
                vec!['\r', '\n', c]
            } else {
                vec![c]
            }
        })
        .collect();
    let coloured = format!("{}\u{1b}[1;31m{}\u{1b}[0m", &secret[..10], &secret[10..]);
    let forms: Vec<(&str, String)> = vec![
        ("as is", format!("key: {secret}")),
        (
            "base64",
            format!(
                "Authorization: Basic {}",
                b64.encode(format!("user:{secret}"))
            ),
        ),
        (
            "base64 at another alignment",
            b64.encode(format!("xy{secret}!")),
        ),
        ("base64, URL-safe", url.encode(format!("k={secret}"))),
        ("base64 wrapped at 76 columns", {
            let e = b64.encode(format!("--{secret}--"));
            e.as_bytes()
                .chunks(8)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        }),
        (
            "percent-encoded",
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        ),
        ("hex", hex::encode(secret)),
        ("HEX", hex::encode_upper(secret)),
        ("split by a line wrap", wrapped),
        ("split by colour codes", coloured),
    ];
    let recording = w.cmd().recording().unwrap();
    for (form, text) in &forms {
        w.clear_outputs();
        recording.record(0, &format!("some output\n{text}\nmore output"), "");
        let report = w
            .leaked_secret()
            .unwrap_or_else(|| panic!("{form}: not found in {text:?}"));
        assert!(
            !report.contains(secret),
            "{form}: the report repeats the secret"
        );
    }
    w.clear_outputs();
    recording.record(0, "nothing to see", "");
    assert_eq!(w.leaked_secret(), None);

    // A file the tool wrote, and a GitHub variable.
    std::fs::create_dir_all(w.dir.path().join(".github")).unwrap();
    std::fs::write(w.dir.path().join(".github/out.txt"), format!("x={secret}")).unwrap();
    let report = w.leaked_secret().expect("found in a file");
    assert!(
        report.contains("the file") && report.contains("out.txt"),
        "{report}"
    );
    std::fs::remove_file(w.dir.path().join(".github/out.txt")).unwrap();
    gh(
        &w,
        "POST",
        "/repos/acme/app/actions/variables",
        TOKEN,
        json!({"name": "OOPS", "value": hex::encode(secret)}),
    );
    let report = w.leaked_secret().expect("found in a variable");
    assert!(
        report.contains("a GitHub variable") && report.contains("hex"),
        "{report}"
    );

    // The caller's own AWS secret is searched for too.
    w.clear_outputs();
    recording.record(0, crate::support::CALLER_SECRET, "");
    assert!(w.leaked_secret().is_some());
    // Leave the world clean for its own check at the end.
    w.clear_outputs();
}
