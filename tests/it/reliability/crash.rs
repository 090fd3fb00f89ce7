//! Crash convergence: a command killed (SIGKILL) right after its k-th mutating call, for every
//! k, and concurrent runs. The rerun must end in exactly the state the command leaves when
//! nothing goes wrong.
use serde_json::{Value, json};

use super::{Mode, assert_converged, assert_delivered, assert_no_panic, snapshot, write_log};
use crate::support::{CALLER_KEY_ID, Output, REPO, World};

/// A command run on a prepared world.
struct Case {
    name: &'static str,
    /// How the end state is checked: `plan` in this mode must have nothing to change.
    mode: Mode,
    setup: fn(&World),
    command: &'static [&'static str],
    /// What the user runs after the crash (`None`: the same command).
    rerun: Option<&'static [&'static str]>,
    /// Whether a plan checks the end state (not after `destroy`, where it would create all).
    plan_after: bool,
}

fn command(w: &World, case: &Case) -> crate::support::Run {
    w.cmd().args(case.command)
}

impl Case {
    fn run(&self, w: &World) -> Output {
        command(w, self).run()
    }

    /// The state the command leaves when nothing fails, and how many writes it makes.
    fn reference(&self, w: &World) -> (Value, u64) {
        w.reset();
        (self.setup)(w);
        w.clear_requests();
        self.run(w).success();
        let writes = w.summary()["mutating"].as_u64().unwrap();
        let state = snapshot(w);
        w.reset();
        (state, writes)
    }

    #[track_caller]
    fn assert_converged(&self, w: &World, clean: &Value, context: &str) {
        if self.plan_after {
            assert_converged(w, self.mode, clean, context);
            assert_delivered(clean, self.mode);
        } else {
            let now = snapshot(w);
            assert!(
                &now == clean,
                "{context}: the state differs from a clean run's\nnow:   {now:#}\nclean: {clean:#}"
            );
            w.clear_requests();
            self.run(w).success();
            assert_eq!(write_log(w), Vec::new(), "{context}: a further run wrote");
        }
    }
}

// The mode explicit, since apply remembers the last one in the settings file.
const OIDC_APPLY: &[&str] = &[
    "apply",
    "--yes",
    "--github-repo",
    REPO,
    "--auth",
    "oidc",
    "--branch",
    "main",
];
const KEY_APPLY: &[&str] = &[
    "apply",
    "--yes",
    "--github-repo",
    REPO,
    "--auth",
    "access-key",
];
const ROTATE: &[&str] = &[
    "rotate-keys",
    "--yes",
    "--github-repo",
    REPO,
    "--auth",
    "access-key",
];

fn fresh_apply(mode: Mode) -> Case {
    Case {
        name: "fresh apply",
        mode,
        setup: |_| {},
        command: match mode {
            Mode::Oidc => OIDC_APPLY,
            Mode::AccessKey => KEY_APPLY,
        },
        rerun: None,
        plan_after: true,
    }
}

/// Killed right after its k-th write, for every k; the rerun of the same command finishes.
fn crash_after_every_write(case: Case) {
    let w = World::start();
    let (clean, total) = case.reference(&w);
    assert!(total >= 3, "{}: only {total} writes", case.name);
    for k in 1..=total {
        let context = format!(
            "{:?} {}: killed after write {k} of {total}",
            case.mode, case.name
        );
        w.reset();
        (case.setup)(&w);
        w.clear_requests();
        w.freeze_after(k as usize);
        let child = command(&w, &case).spawn();
        // The world answers when it has logged the k-th write; every request after it waits.
        w.wait_for_writes(k);
        let killed = child.kill();
        w.release();
        assert_no_panic(&killed, &context);
        if k < total {
            // Its next write was frozen, so it cannot have finished: the kill interrupted it.
            assert_ne!(killed.code, 0, "{context}: the run was not interrupted");
        }
        let rerun = w.cmd().args(case.rerun.unwrap_or(case.command)).run();
        assert_eq!(
            rerun.code, 0,
            "{context}: the rerun failed\n{}\n{}",
            rerun.stdout, rerun.stderr
        );
        case.assert_converged(&w, &clean, &context);
    }
}

#[test]
fn a_crash_after_any_write_is_finished_by_the_rerun_oidc() {
    crash_after_every_write(fresh_apply(Mode::Oidc));
}

#[test]
fn a_crash_after_any_write_is_finished_by_the_rerun_access_key() {
    crash_after_every_write(fresh_apply(Mode::AccessKey));
}

/// The key delivered a while ago, as a rotation usually finds it: IAM and GitHub date things
/// in whole seconds, and a delivery in the same second as the rotation is another case (see
/// the ignored test below).
fn delivered_earlier(w: &World) {
    Mode::AccessKey.apply(w).success();
    w.post(&format!("{}/_world/age", w.github), json!({"seconds": 5}));
}

/// Rotation: the pending mark, the new key, both secrets, the record, the old key deleted.
/// The rerun is `apply`, which finishes or undoes the interrupted delivery (see the ignored
/// test below for `rotate-keys` run again).
#[test]
fn a_crash_after_any_write_of_a_rotation_is_finished_by_the_rerun() {
    crash_after_every_write(Case {
        name: "rotate-keys",
        mode: Mode::AccessKey,
        setup: delivered_earlier,
        command: ROTATE,
        rerun: Some(KEY_APPLY),
        plan_after: true,
    });
}

/// The same, with the key delivered in the same second as the rotation starts: killed after
/// the new key is made, before GitHub gets it, the rerun takes the new key for one GitHub
/// already holds (GitHub's secret is dated in the same second as the key, and
/// `resources::access_key::assess` compares with `>=`), records it and deletes the key GitHub
/// does hold: the workflow is left with a deleted key.
#[test]
fn a_rotation_killed_after_its_new_key_in_the_second_of_the_last_delivery_keeps_a_working_key() {
    let w = World::start();
    Mode::AccessKey.apply(&w).success();
    w.clear_requests();
    // The pending mark and CreateAccessKey pass; the secrets' PUTs wait.
    w.freeze_after(2);
    let child = w
        .cmd()
        .args(["rotate-keys", "--yes"])
        .args(Mode::AccessKey.args())
        .spawn();
    w.wait_for_writes(2);
    child.kill();
    w.release();
    w.cmd()
        .args(["rotate-keys", "--yes"])
        .args(Mode::AccessKey.args())
        .run()
        .success();
    assert_delivered(&snapshot(&w), Mode::AccessKey);
}

/// A rotation killed after it recorded the new key, before it deleted the old one, then run
/// again: the old key is superseded (docs/secrets.md: "a recorded key plus other keys: the
/// other keys are superseded and deleted"), but `rotate-keys` stops because the user holds two
/// keys, IAM's limit, and asks the user to delete one by hand.
#[test]
fn rotate_keys_run_again_after_a_rotation_killed_before_retiring_the_old_key_finishes_it() {
    let w = World::start();
    w.reset();
    delivered_earlier(&w);
    w.clear_requests();
    w.cmd().args(ROTATE).run().success();
    let record = write_log(&w)
        .iter()
        .position(|l| l.path.ends_with("/variables/SKYECR_ACCESS_KEY_ID"))
        .expect("the rotation records its key")
        + 1;
    w.reset();
    delivered_earlier(&w);
    w.clear_requests();
    w.freeze_after(record);
    let child = w.cmd().args(ROTATE).spawn();
    w.wait_for_writes(record as u64);
    child.kill();
    w.release();
    let again = w.cmd().args(ROTATE).run();
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_delivered(&snapshot(&w), Mode::AccessKey);
}

/// Teardown of both modes' resources (role and user, secrets and variables).
#[test]
fn a_crash_after_any_write_of_a_destroy_is_finished_by_the_rerun() {
    crash_after_every_write(Case {
        name: "destroy",
        mode: Mode::Oidc,
        setup: |w| {
            Mode::Oidc.apply(w).success();
            Mode::AccessKey.apply(w).success();
        },
        command: &["destroy", "--yes", "--github-repo", REPO],
        rerun: None,
        plan_after: false,
    });
}

/// Every kind of drift fixed: a client ID, the trust policy, an attachment, a policy version
/// replacing the oldest of five, scan on push.
#[test]
fn a_crash_after_any_write_of_an_apply_over_drift_is_finished_by_the_rerun() {
    crash_after_every_write(Case {
        name: "apply over drift",
        mode: Mode::Oidc,
        setup: super::least_privilege::drift,
        command: OIDC_APPLY,
        rerun: None,
        plan_after: true,
    });
}

/// From access keys to OIDC: the role and its secret in, the key, the user and their secrets
/// and variables out.
#[test]
fn a_crash_after_any_write_of_a_mode_switch_is_finished_by_the_rerun() {
    crash_after_every_write(Case {
        name: "switch from access keys to OIDC",
        mode: Mode::Oidc,
        setup: |w| {
            Mode::AccessKey.apply(w).success();
        },
        command: OIDC_APPLY,
        rerun: None,
        plan_after: true,
    });
}

/// A second caller: its own AWS key ID and GitHub token, so the world tells the runs apart.
const SECOND_KEY_ID: &str = "AKIAIOSFODNN7CALLER2";
const SECOND_TOKEN: &str = "ghp_secondrunsowntoken000000000000000";

/// Two `apply` runs at once: the world holds the first write of each side until both runs are
/// there (so both observed the same state before either wrote), then lets them race. Both
/// succeed, nothing is duplicated, and a third run has nothing to do.
#[test]
fn two_applies_at_once_converge_without_duplicates() {
    let w = World::start();
    for mode in [Mode::Oidc, Mode::AccessKey] {
        let case = fresh_apply(mode);
        let (clean, _) = case.reference(&w);
        let context = format!("{mode:?}, two runs at once");
        w.reset();
        w.post(
            &format!("{}/_standin/tokens", w.github),
            json!({"token": SECOND_TOKEN, "permissions": "all", "login": "acme", "user_id": 1001}),
        );
        w.aws_faults(
            json!({"action_regex": ".*", "mutating": true, "hold": "race-aws",
                            "until_callers": 2, "times": null}),
        );
        w.github_faults(
            json!({"mutating": true, "hold": "race-github", "until_callers": 2,
                               "times": null}),
        );
        let a = case.run_spawned(&w, CALLER_KEY_ID, crate::support::TOKEN);
        let b = case.run_spawned(&w, SECOND_KEY_ID, SECOND_TOKEN);
        let (a, b) = (a.wait(), b.wait());
        for (name, out) in [("first", &a), ("second", &b)] {
            assert_no_panic(out, &context);
            // Of two runs delivering an access key at once, one may stop before making a
            // key, saying why; everything else must simply succeed.
            let explained = mode == Mode::AccessKey
                && out.code == 1
                && out
                    .stderr
                    .contains("another run is delivering an access key");
            assert!(
                out.code == 0 || explained,
                "{context}: the {name} run failed\n{}",
                out.stderr
            );
        }
        assert!(
            a.code == 0 || b.code == 0,
            "{context}: neither run succeeded"
        );
        for hold in w.holds().as_array().unwrap() {
            assert_eq!(
                (&hold["open"], &hold["callers"], &hold["timeouts"]),
                (&json!(true), &json!(2), &json!(0)),
                "{context}: the runs did not meet: {hold}"
            );
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
        assert_converged(&w, mode, &clean, &context);
    }
}

impl Case {
    fn run_spawned(&self, w: &World, key_id: &str, token: &str) -> crate::support::Running {
        command(w, self)
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("GITHUB_TOKEN", token)
            .spawn()
    }
}

/// A run that starts while another is delivering an access key (its pending mark is fresh and
/// its process alive) must not create a key of its own, nor delete the other run's new key.
/// The world holds the first run at `CreateAccessKey` until the second has ended.
#[test]
fn a_run_starting_during_another_runs_key_delivery_stays_out_of_it() {
    let w = World::start();
    let case = fresh_apply(Mode::AccessKey);
    let (clean, _) = case.reference(&w);
    w.reset();
    w.aws_faults(json!({"action": "CreateAccessKey", "hold": "delivery", "timeout_s": 30}));
    let first = case.run_spawned(&w, CALLER_KEY_ID, crate::support::TOKEN);
    w.wait_for_held("delivery", 1);
    assert!(
        !w.github_state()["variables"]["SKYECR_ACCESS_KEY_PENDING"].is_null(),
        "the first run sits at CreateAccessKey without its mark"
    );
    let second = case.run(&w);
    w.release_hold("delivery");
    let first = first.wait();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_no_panic(&second, "second run");
    assert!(
        second.code == 1
            && second
                .stderr
                .contains("another run is delivering an access key"),
        "the second run did not stay out\n{}",
        second.stderr
    );
    assert_eq!(w.holds()[0]["timeouts"], 0, "{}", w.holds());
    assert_converged(&w, Mode::AccessKey, &clean, "after overlapping deliveries");
}
