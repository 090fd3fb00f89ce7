//! Crash convergence: `apply` killed (SIGKILL) right after its k-th mutating call, for every k,
//! and concurrent runs. The rerun must end in exactly the state of a clean apply.
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Mode, assert_converged, assert_no_panic, clean_state};
use crate::support::World;

/// How many mutating calls (AWS and GitHub) a fresh apply makes.
fn mutating_calls_of_fresh_apply(w: &World, mode: Mode) -> u64 {
    w.reset();
    mode.apply(w).success();
    let n = w.summary()["mutating"].as_u64().unwrap();
    w.reset();
    n
}

fn crash_after_every_write(mode: Mode) {
    let w = World::start();
    let clean = clean_state(&w, mode);
    let total = mutating_calls_of_fresh_apply(&w, mode);
    assert!(total >= 5, "{mode:?}: only {total} writes");
    for k in 1..=total {
        let context = format!("{mode:?}: killed after write {k} of {total}");
        w.reset();
        w.freeze_after(k as usize);
        let mut child = w.cmd().args(["apply", "--yes"]).args(mode.args()).spawn();
        let started = Instant::now();
        loop {
            let done = w.summary()["mutating"].as_u64().unwrap_or(0);
            if done >= k || child.finished() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{context}: write {k} never came (saw {done})"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = child.kill();
        w.release();
        assert_no_panic(&killed, &context);
        if k < total {
            // Its next write was frozen, so it cannot have finished: the kill interrupted it.
            assert_ne!(killed.code, 0, "{context}: the run was not interrupted");
        }
        let rerun = mode.apply(&w);
        assert_eq!(
            rerun.code, 0,
            "{context}: the rerun failed\n{}\n{}",
            rerun.stdout, rerun.stderr
        );
        assert_converged(&w, mode, &clean, &context);
    }
}

#[test]
fn a_crash_after_any_write_is_finished_by_the_rerun_oidc() {
    crash_after_every_write(Mode::Oidc);
}

#[test]
fn a_crash_after_any_write_is_finished_by_the_rerun_access_key() {
    crash_after_every_write(Mode::AccessKey);
}

/// Two `apply` runs started at once: both succeed, nothing is duplicated, and a third run
/// has nothing to do.
#[test]
fn two_applies_at_once_converge_without_duplicates() {
    let w = World::start();
    for mode in [Mode::Oidc, Mode::AccessKey] {
        let clean = clean_state(&w, mode);
        for round in 0..2 {
            let context = format!("{mode:?}, concurrent round {round}");
            w.reset();
            // A little latency on every call widens the window in which both runs see nothing.
            w.aws_faults(json!({"action_regex": ".*", "delay_ms": 20, "times": null}));
            let a = w.cmd().args(["apply", "--yes"]).args(mode.args()).spawn();
            let b = w.cmd().args(["apply", "--yes"]).args(mode.args()).spawn();
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
            w.send(
                reqwest::Method::DELETE,
                &format!("{}/_proxy/faults", w.aws),
                json!({}),
            );
            assert_converged(&w, mode, &clean, &context);
        }
    }
}

/// A run that starts while another is delivering an access key (its pending mark is fresh and
/// its process alive) must not create a key of its own, nor delete the other run's new key.
#[test]
fn a_run_starting_during_another_runs_key_delivery_stays_out_of_it() {
    let w = World::start();
    let clean = clean_state(&w, Mode::AccessKey);
    w.reset();
    // The first run sits between marking its delivery and creating the key.
    w.aws_faults(json!({"action": "CreateAccessKey", "delay_ms": 3000, "times": 1}));
    let first = w
        .cmd()
        .args(["apply", "--yes"])
        .args(Mode::AccessKey.args())
        .spawn();
    let started = Instant::now();
    while w.github_state()["variables"]["SKYECR_ACCESS_KEY_PENDING"].is_null() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no pending mark"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = Mode::AccessKey.apply(&w);
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
    assert_converged(&w, Mode::AccessKey, &clean, "after overlapping deliveries");
}
