//! Plans as text (`+ ~ - !`) or JSON.
use console::{Style, style};
use serde_json::{Value, json};

use crate::plan::{Action, Plan};

fn symbol(action: Action) -> (&'static str, Style) {
    match action {
        Action::Create => ("+", Style::new().green()),
        Action::Update => ("~", Style::new().yellow()),
        Action::Delete => ("-", Style::new().red()),
        Action::Blocked => ("!", Style::new().red().bold()),
        Action::Keep => ("=", Style::new().dim()),
    }
}

pub fn plan_text(plan: &Plan, target: &str) -> String {
    if plan.changes.is_empty() {
        return format!("No changes: {target} match the settings.\n");
    }
    let mut out = format!("Changes for {target}:\n\n");
    for change in &plan.changes {
        let (sym, color) = symbol(change.action);
        out.push_str(&format!(
            "  {} {} {}\n",
            color.apply_to(sym),
            style(change.resource.as_str()).bold(),
            change.name
        ));
        for d in &change.details {
            out.push_str(&format!("      {d}\n"));
        }
    }
    out.push_str(&format!(
        "\nPlan: {} to create, {} to update, {} to delete, {} blocked.\n",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Delete),
        plan.count(Action::Blocked)
    ));
    out
}

pub fn plan_json(plan: &Plan, account_id: &str, region: &str) -> Value {
    json!({
        "changes": plan.changes,
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update),
            "delete": plan.count(Action::Delete),
            "blocked": plan.count(Action::Blocked),
        },
        "account_id": account_id,
        "region": region,
    })
}

/// `destroy`'s preview: the removals, then what stays and why.
pub fn teardown_text(plan: &Plan, target: &str) -> String {
    let mut out = if plan.changes.is_empty() {
        format!("Nothing to destroy: none of the managed resources exist in {target}.\n")
    } else {
        plan_text(plan, target)
    };
    for kept in &plan.kept {
        out.push_str(&format!("Note: {}\n", kept.details.join(" ")));
    }
    out
}

pub fn teardown_json(plan: &Plan, account_id: &str, region: &str) -> Value {
    let kept: Vec<String> = plan.kept.iter().map(|k| k.details.join(" ")).collect();
    json!({
        "changes": plan.changes,
        "kept": kept,
        "account_id": account_id,
        "region": region,
    })
}
