//! What a policy change does to access, for the pull request that makes it.
//!
//! A reviewer of a policy change cares about its effect, not its text: which groups can now get
//! a key for which (API, scope), which lose it, and which APIs now send keys elsewhere, live
//! longer or are limited differently. [`PolicyDiff::between`] computes exactly that from two
//! validated policies; it renders as Markdown for a pull-request comment and serializes as JSON
//! for tools.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::policy::{ApiPolicy, Policy, RateLimit};

/// One (API, scope) pair a group may request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ScopeRef {
    pub api: String,
    pub scope: String,
}

impl ScopeRef {
    fn label(&self) -> String {
        format!("{}/{}", self.api, self.scope)
    }
}

/// The (API, scope) pairs one group gains and loses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupChange {
    pub gained: Vec<ScopeRef>,
    pub lost: Vec<ScopeRef>,
}

/// One setting of an API that differs between the two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub api: String,
    /// The setting, named as in the policy file (`max_ttl_seconds`, `rate_limit`,
    /// `scopes.write.acl_group`, ...).
    pub setting: String,
    /// The old value, rendered; `None` when the setting was absent.
    pub before: Option<String>,
    /// The new value, rendered; `None` when the setting is now absent.
    pub after: Option<String>,
}

/// The effect on access of going from one policy to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyDiff {
    pub apis_added: Vec<String>,
    pub apis_removed: Vec<String>,
    pub admin_groups_added: Vec<String>,
    pub admin_groups_removed: Vec<String>,
    /// Per caller group, what it may now request and what it no longer may (only groups with a
    /// change are listed).
    pub groups: BTreeMap<String, GroupChange>,
    /// Settings of APIs present in both policies that changed: lifetimes, rate limit, where keys
    /// are sent (`gateway_url`, `key_header`), the Kong service and the ACL group of each scope.
    pub settings: Vec<SettingChange>,
}

impl PolicyDiff {
    /// What changes for callers when `new` replaces `old`.
    pub fn between(old: &Policy, new: &Policy) -> Self {
        let old_apis: BTreeSet<&String> = old.apis().map(|api| &api.id).collect();
        let new_apis: BTreeSet<&String> = new.apis().map(|api| &api.id).collect();
        let old_admins: BTreeSet<&String> = old.admin_groups().collect();
        let new_admins: BTreeSet<&String> = new.admin_groups().collect();
        Self {
            apis_added: owned(new_apis.difference(&old_apis)),
            apis_removed: owned(old_apis.difference(&new_apis)),
            admin_groups_added: owned(new_admins.difference(&old_admins)),
            admin_groups_removed: owned(old_admins.difference(&new_admins)),
            groups: group_changes(&access_by_group(old), &access_by_group(new)),
            settings: old
                .apis()
                .filter_map(|before| new.api(&before.id).map(|after| (before, after)))
                .flat_map(|(before, after)| setting_changes(before, after))
                .collect(),
        }
    }

    /// Whether the change leaves every caller's access and every API setting as it was.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The diff on one line, for the `policy_load` audit event and the log: each part that is
    /// not empty, separated by `; `.
    pub fn summary(&self) -> String {
        let labels = |scopes: &[ScopeRef]| {
            scopes
                .iter()
                .map(ScopeRef::label)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        for (title, items) in [
            ("APIs added", &self.apis_added),
            ("APIs removed", &self.apis_removed),
            ("admin groups added", &self.admin_groups_added),
            ("admin groups removed", &self.admin_groups_removed),
        ] {
            if !items.is_empty() {
                parts.push(format!("{title}: {}", items.join(", ")));
            }
        }
        for (group, change) in &self.groups {
            if !change.gained.is_empty() {
                parts.push(format!("{group} gained {}", labels(&change.gained)));
            }
            if !change.lost.is_empty() {
                parts.push(format!("{group} lost {}", labels(&change.lost)));
            }
        }
        for change in &self.settings {
            parts.push(format!(
                "{}.{}: {} -> {}",
                change.api,
                change.setting,
                change.before.as_deref().unwrap_or("(unset)"),
                change.after.as_deref().unwrap_or("(unset)"),
            ));
        }
        parts.join("; ")
    }

    /// The diff as Markdown, for a pull-request comment.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## Policy change\n\n");
        if self.is_empty() {
            out.push_str("No change to who may get which key, or to any API setting.\n");
            return out;
        }
        list(&mut out, "APIs added", &self.apis_added);
        list(&mut out, "APIs removed", &self.apis_removed);
        list(&mut out, "Admin groups added", &self.admin_groups_added);
        list(&mut out, "Admin groups removed", &self.admin_groups_removed);
        if !self.groups.is_empty() {
            out.push_str("### Access by group\n\n| group | gained | lost |\n| --- | --- | --- |\n");
            for (group, change) in &self.groups {
                let _ = writeln!(
                    out,
                    "| `{group}` | {} | {} |",
                    cell(change.gained.iter().map(ScopeRef::label)),
                    cell(change.lost.iter().map(ScopeRef::label)),
                );
            }
            out.push('\n');
        }
        if !self.settings.is_empty() {
            out.push_str(
                "### API settings\n\n| API | setting | before | after |\n| --- | --- | --- | --- |\n",
            );
            for change in &self.settings {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} | {} |",
                    change.api,
                    change.setting,
                    value_cell(change.before.as_deref()),
                    value_cell(change.after.as_deref()),
                );
            }
            out.push('\n');
        }
        out
    }
}

fn owned<'a>(items: impl Iterator<Item = &'a &'a String>) -> Vec<String> {
    items.map(|item| (*item).clone()).collect()
}

/// Every (API, scope) pair each group named in the policy may request.
fn access_by_group(policy: &Policy) -> BTreeMap<&str, BTreeSet<ScopeRef>> {
    let mut access: BTreeMap<&str, BTreeSet<ScopeRef>> = BTreeMap::new();
    for api in policy.apis() {
        for scope in &api.scopes {
            for group in &scope.allowed_groups {
                access.entry(group).or_default().insert(ScopeRef {
                    api: api.id.clone(),
                    scope: scope.name.clone(),
                });
            }
        }
    }
    access
}

fn group_changes(
    old: &BTreeMap<&str, BTreeSet<ScopeRef>>,
    new: &BTreeMap<&str, BTreeSet<ScopeRef>>,
) -> BTreeMap<String, GroupChange> {
    let empty = BTreeSet::new();
    let groups: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    groups
        .into_iter()
        .filter_map(|group| {
            let before = old.get(group).unwrap_or(&empty);
            let after = new.get(group).unwrap_or(&empty);
            let change = GroupChange {
                gained: after.difference(before).cloned().collect(),
                lost: before.difference(after).cloned().collect(),
            };
            (change != GroupChange::default()).then(|| (group.to_owned(), change))
        })
        .collect()
}

fn setting_changes(before: &ApiPolicy, after: &ApiPolicy) -> Vec<SettingChange> {
    let mut changes = Vec::new();
    let mut compare = |setting: String, old: Option<String>, new: Option<String>| {
        if old != new {
            changes.push(SettingChange {
                api: before.id.clone(),
                setting,
                before: old,
                after: new,
            });
        }
    };
    let text = |value: &str| Some(value.to_owned());
    compare(
        "gateway_url".into(),
        text(&before.gateway_url),
        text(&after.gateway_url),
    );
    compare(
        "key_header".into(),
        text(&before.key_header),
        text(&after.key_header),
    );
    compare(
        "kong_service".into(),
        text(&before.kong_service),
        text(&after.kong_service),
    );
    for (setting, old, new) in [
        (
            "default_ttl_seconds",
            before.default_ttl_seconds,
            after.default_ttl_seconds,
        ),
        (
            "min_ttl_seconds",
            before.min_ttl_seconds,
            after.min_ttl_seconds,
        ),
        (
            "max_ttl_seconds",
            before.max_ttl_seconds,
            after.max_ttl_seconds,
        ),
    ] {
        compare(setting.into(), Some(old.to_string()), Some(new.to_string()));
    }
    compare(
        "discoverable".into(),
        Some(before.discoverable.to_string()),
        Some(after.discoverable.to_string()),
    );
    compare(
        "rate_limit".into(),
        before.rate_limit.map(rate_limit_text),
        after.rate_limit.map(rate_limit_text),
    );
    for scope in &before.scopes {
        if let Some(new_scope) = after.scopes.iter().find(|s| s.name == scope.name) {
            compare(
                format!("scopes.{}.acl_group", scope.name),
                text(&scope.acl_group),
                text(&new_scope.acl_group),
            );
        }
    }
    changes
}

fn rate_limit_text(limit: RateLimit) -> String {
    [
        ("second", limit.second),
        ("minute", limit.minute),
        ("hour", limit.hour),
        ("day", limit.day),
    ]
    .into_iter()
    .filter_map(|(window, count)| count.map(|count| format!("{count}/{window}")))
    .collect::<Vec<_>>()
    .join(", ")
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if !items.is_empty() {
        let _ = writeln!(out, "**{title}:** {}\n", cell(items.iter().cloned()));
    }
}

fn cell(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.map(|item| format!("`{item}`")).collect();
    if items.is_empty() {
        "—".to_owned()
    } else {
        items.join(", ")
    }
}

fn value_cell(value: Option<&str>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("`{value}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r"
version: 1
admin_groups: [idp:platform]
apis:
  - id: orders
    title: Orders
    kong_service: orders
    gateway_url: https://gw.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    rate_limit: {minute: 60}
    scopes:
      - {name: read, acl_group: orders-read, allowed_groups: [idp:eng, idp:support]}
      - {name: write, acl_group: orders-write, allowed_groups: [idp:payments]}
  - id: legacy
    title: Legacy
    kong_service: legacy
    gateway_url: https://gw.example/legacy
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes:
      - {name: read, acl_group: legacy-read, allowed_groups: [idp:eng]}
";

    const NEW: &str = r"
version: 1
admin_groups: [idp:platform, idp:security]
apis:
  - id: orders
    title: Orders (renamed title changes nothing)
    kong_service: orders
    gateway_url: https://gw.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 7200
    rate_limit: {minute: 60, hour: 1000}
    scopes:
      - {name: read, acl_group: orders-read, allowed_groups: [idp:eng]}
      - {name: write, acl_group: orders-admin, allowed_groups: [idp:payments, idp:eng]}
  - id: billing
    title: Billing
    kong_service: billing
    gateway_url: https://gw.example/billing
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    scopes:
      - {name: read, acl_group: billing-read, allowed_groups: [idp:support]}
";

    fn policy(text: &str) -> Policy {
        Policy::parse("p.yaml", text).unwrap()
    }

    fn scope(api: &str, scope: &str) -> ScopeRef {
        ScopeRef {
            api: api.to_owned(),
            scope: scope.to_owned(),
        }
    }

    fn setting(setting: &str, before: Option<&str>, after: Option<&str>) -> SettingChange {
        SettingChange {
            api: "orders".to_owned(),
            setting: setting.to_owned(),
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
        }
    }

    #[test]
    fn the_diff_of_two_policies_names_every_gain_loss_and_setting_change() {
        let diff = PolicyDiff::between(&policy(OLD), &policy(NEW));
        let expected = PolicyDiff {
            apis_added: vec!["billing".to_owned()],
            apis_removed: vec!["legacy".to_owned()],
            admin_groups_added: vec!["idp:security".to_owned()],
            admin_groups_removed: vec![],
            groups: BTreeMap::from([
                (
                    "idp:eng".to_owned(),
                    GroupChange {
                        gained: vec![scope("orders", "write")],
                        lost: vec![scope("legacy", "read")],
                    },
                ),
                (
                    "idp:support".to_owned(),
                    GroupChange {
                        gained: vec![scope("billing", "read")],
                        lost: vec![scope("orders", "read")],
                    },
                ),
            ]),
            settings: vec![
                setting("max_ttl_seconds", Some("3600"), Some("7200")),
                setting(
                    "rate_limit",
                    Some("60/minute"),
                    Some("60/minute, 1000/hour"),
                ),
                setting(
                    "scopes.write.acl_group",
                    Some("orders-write"),
                    Some("orders-admin"),
                ),
            ],
        };
        assert_eq!(diff, expected);
    }

    #[test]
    fn the_summary_names_every_change_on_one_line() {
        let summary = PolicyDiff::between(&policy(OLD), &policy(NEW)).summary();
        assert_eq!(
            summary,
            "APIs added: billing; APIs removed: legacy; admin groups added: idp:security; \
             idp:eng gained orders/write; idp:eng lost legacy/read; \
             idp:support gained billing/read; idp:support lost orders/read; \
             orders.max_ttl_seconds: 3600 -> 7200; \
             orders.rate_limit: 60/minute -> 60/minute, 1000/hour; \
             orders.scopes.write.acl_group: orders-write -> orders-admin"
        );
    }

    #[test]
    fn the_markdown_has_one_row_per_changed_group_and_setting() {
        let markdown = PolicyDiff::between(&policy(OLD), &policy(NEW)).to_markdown();
        let expected = "## Policy change

**APIs added:** `billing`

**APIs removed:** `legacy`

**Admin groups added:** `idp:security`

### Access by group

| group | gained | lost |
| --- | --- | --- |
| `idp:eng` | `orders/write` | `legacy/read` |
| `idp:support` | `billing/read` | `orders/read` |

### API settings

| API | setting | before | after |
| --- | --- | --- | --- |
| `orders` | `max_ttl_seconds` | `3600` | `7200` |
| `orders` | `rate_limit` | `60/minute` | `60/minute, 1000/hour` |
| `orders` | `scopes.write.acl_group` | `orders-write` | `orders-admin` |

";
        assert_eq!(markdown, expected);
    }

    #[test]
    fn reordering_groups_changes_no_access() {
        let reordered = OLD.replace("[idp:eng, idp:support]", "[idp:support, idp:eng]");
        let diff = PolicyDiff::between(&policy(OLD), &policy(&reordered));
        assert!(diff.is_empty());
        assert!(diff.to_markdown().contains("No change"));
        let json = serde_json::to_value(&diff).unwrap();
        assert_eq!(json["groups"], serde_json::json!({}));
    }
}
