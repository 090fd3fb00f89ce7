//! Ordered documents for the exported files: policy JSON and CloudFormation YAML keep the order
//! a person reads them in (`Version` before `Statement`, `Type` before `Properties`), which
//! `serde_json`'s sorted maps would lose.
use serde_json::Value;

/// A JSON-shaped value whose maps keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Scalar(Value),
}

/// Policy keys in the order IAM's own documentation writes them; other keys follow, sorted.
const POLICY_ORDER: [&str; 12] = [
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Node {
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Node)>) -> Node {
        Node::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn text(s: impl Into<String>) -> Node {
        Node::Scalar(Value::String(s.into()))
    }

    /// A policy document (or any JSON value) with its keys in reading order.
    pub fn policy(value: &Value) -> Node {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by_key(|(k, _)| {
                    let rank = POLICY_ORDER
                        .iter()
                        .position(|p| p == k)
                        .unwrap_or(POLICY_ORDER.len());
                    (rank, (*k).clone())
                });
                Node::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), Node::policy(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Node::List(items.iter().map(Node::policy).collect()),
            other => Node::Scalar(other.clone()),
        }
    }

    /// Pretty JSON, two spaces, with a final newline.
    pub fn json(&self) -> String {
        let mut out = String::new();
        self.write_json(0, &mut out);
        out.push('\n');
        out
    }

    fn write_json(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent + 2);
        match self {
            Node::Map(entries) if entries.is_empty() => out.push_str("{}"),
            Node::List(items) if items.is_empty() => out.push_str("[]"),
            Node::Map(entries) => {
                out.push_str("{\n");
                for (i, (k, v)) in entries.iter().enumerate() {
                    out.push_str(&pad);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    v.write_json(indent + 2, out);
                    out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
                }
                out.push_str(&" ".repeat(indent));
                out.push('}');
            }
            Node::List(items) => {
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    out.push_str(&pad);
                    v.write_json(indent + 2, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&" ".repeat(indent));
                out.push(']');
            }
            Node::Scalar(v) => out.push_str(&v.to_string()),
        }
    }

    /// Block-style YAML of a map, with a final newline.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        self.write_yaml(0, &mut out);
        out
    }

    fn write_yaml(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Node::Map(entries) => {
                for (k, v) in entries {
                    out.push_str(&format!("{pad}{}:", yaml_scalar(&Value::String(k.clone()))));
                    v.write_yaml_value(indent, out);
                }
            }
            Node::List(items) => {
                for item in items {
                    match item {
                        Node::Map(entries) if !entries.is_empty() => {
                            // The first entry shares the dash's line; the rest align under it.
                            let mut nested = String::new();
                            item.write_yaml(indent + 2, &mut nested);
                            out.push_str(&pad);
                            out.push_str("- ");
                            out.push_str(&nested[indent + 2..]);
                        }
                        Node::List(inner) if !inner.is_empty() => {
                            out.push_str(&format!("{pad}-\n"));
                            item.write_yaml(indent + 2, out);
                        }
                        _ => {
                            out.push_str(&format!("{pad}-"));
                            item.write_yaml_value(indent, out);
                        }
                    }
                }
            }
            Node::Scalar(v) => out.push_str(&format!("{pad}{}\n", yaml_scalar(v))),
        }
    }

    /// What follows `key:` (or `-`): a scalar on the same line, a collection below it.
    fn write_yaml_value(&self, indent: usize, out: &mut String) {
        match self {
            Node::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
            Node::List(items) if items.is_empty() => out.push_str(" []\n"),
            Node::Map(_) | Node::List(_) => {
                out.push('\n');
                self.write_yaml(indent + 2, out);
            }
            Node::Scalar(v) => out.push_str(&format!(" {}\n", yaml_scalar(v))),
        }
    }
}

/// Plain where YAML reads it back as the same string, double-quoted otherwise (a JSON string
/// is a valid YAML double-quoted scalar). Dates, numbers, `yes`/`no` and `*` are always quoted.
fn yaml_scalar(v: &Value) -> String {
    let Value::String(s) = v else {
        return v.to_string();
    };
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
        && !s.ends_with(':')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { s.clone() } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The value as `serde_json` sees it, to compare with what a parser reads back.
    fn to_value(node: &Node) -> Value {
        match node {
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), to_value(v)))
                    .collect(),
            ),
            Node::List(items) => Value::Array(items.iter().map(to_value).collect()),
            Node::Scalar(v) => v.clone(),
        }
    }

    #[test]
    fn policies_read_in_iam_order_and_mean_the_same() {
        let doc = json!({"Statement": [{"Resource": "*", "Effect": "Allow", "Action": "ecr:X", "Sid": "A"}], "Version": "2012-10-17"});
        let node = Node::policy(&doc);
        let text = node.json();
        assert!(text.find("Version") < text.find("Statement"));
        assert!(
            text.find("Sid") < text.find("Effect") && text.find("Action") < text.find("Resource")
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), doc);
        assert_eq!(to_value(&node), doc);
    }

    #[test]
    fn yaml_round_trips_through_a_yaml_parser() {
        let node = Node::map([
            ("Version", Node::text("2012-10-17")),
            (
                "Items",
                Node::List(vec![
                    Node::map([
                        ("Key", Node::text("managed-by")),
                        ("Value", Node::text("yes")),
                    ]),
                    Node::text("*"),
                    Node::Scalar(json!(true)),
                    Node::List(vec![Node::text("a:b"), Node::text("ends:")]),
                ]),
            ),
            (
                "token.actions.githubusercontent.com:sub",
                Node::text("repo:acme/app:*"),
            ),
            ("Empty", Node::Map(vec![])),
            ("Quote", Node::text("say \"hi\"\n# not a comment")),
        ]);
        let text = node.yaml();
        let parsed: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(parsed, to_value(&node), "{text}");
        assert!(text.contains("Version: \"2012-10-17\""), "{text}");
        assert!(text.contains("- Key: managed-by\n"), "{text}");
    }
}
