//! One map of every path Vouch serves. The route table registers each
//! [`Route`] under its pattern here, in this order (the voice webhooks
//! under `/voice` as one scope that [`recognise`] dispatches); the builders
//! below make the URLs Vouch hands to Twilio and to agents; and
//! [`recognise`] reads a request path back into its route, for the
//! per-route limits, the recorder's redaction and that scope. Nothing else
//! spells a path.

use crate::flow::Stage;

/// Every route Vouch serves, in the order the route table tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Health,
    ApiCall,
    ApiLockout,
    /// The audit log (supervisors).
    ApiAudit,
    /// A customer's call records, to erase them.
    ApiCustomerRecords,
    /// ID&V figures for a time range (supervisors).
    ApiStats,
    AgentCalls,
    /// Today's ID&V figures, live (supervisors).
    Dashboard,
    /// The dashboard's server-sent events.
    DashboardEvents,
    /// The dashboard's table as a file.
    DashboardExport,
    /// The dashboard's script.
    DashboardScript,
    /// ID&V figures per day or hour over a range of dates (supervisors).
    Reports,
    /// A report as a file.
    ReportExport,
    /// The calls behind a report's figure (audited: customer data).
    ReportCalls,
    /// Scheduled reports' files, and one of them.
    ReportFiles,
    ReportFile,
    ScreenPop,
    /// A call's timeline as a file (supervisors).
    CallTimeline,
    Login,
    Logout,
    Stylesheet,
    Metrics,
    Status,
    SelfServiceDemo,
    /// `<Enqueue waitUrl>`: Vouch's hold message and music.
    Hold,
    /// The music `/hold` plays.
    HoldAudio,
    /// `<Dial><Queue url>` for agents dequeuing a plain queue.
    QueueConnect,
    Whisper,
    /// Twilio's Voice Fallback URL: a request to the primary URL failed.
    Fallback,
    /// A call's first webhook; the line from the dialled number.
    Voice,
    /// A call's first webhook on a named line.
    VoiceOnLine,
    /// `<Dial action>`: how a dial to an agent ended.
    Dialed,
    /// An entry at a prompt (`identify` or `verify`), the state in the query.
    Entry,
}

impl Route {
    /// Every route, in registration order (`Dialed` before `Entry`, whose
    /// `{stage}` would claim it).
    pub const ALL: [Route; 33] = [
        Route::Health,
        Route::ApiCall,
        Route::ApiLockout,
        Route::ApiAudit,
        Route::ApiCustomerRecords,
        Route::ApiStats,
        Route::AgentCalls,
        Route::Dashboard,
        Route::DashboardEvents,
        Route::DashboardExport,
        Route::DashboardScript,
        Route::Reports,
        Route::ReportExport,
        Route::ReportCalls,
        Route::ReportFiles,
        Route::ReportFile,
        Route::ScreenPop,
        Route::CallTimeline,
        Route::Login,
        Route::Logout,
        Route::Stylesheet,
        Route::Metrics,
        Route::Status,
        Route::SelfServiceDemo,
        Route::Hold,
        Route::HoldAudio,
        Route::QueueConnect,
        Route::Whisper,
        Route::Fallback,
        Route::Voice,
        Route::VoiceOnLine,
        Route::Dialed,
        Route::Entry,
    ];

    /// The pattern the route table registers (actix syntax).
    pub const fn pattern(self) -> &'static str {
        match self {
            Self::Health => "/healthz",
            Self::ApiCall => "/api/calls/{call_sid}",
            Self::ApiLockout => "/api/lockouts/{customer_id}",
            Self::ApiAudit => "/api/audit",
            Self::ApiCustomerRecords => "/api/customers/{customer_id}/records",
            Self::ApiStats => "/api/stats",
            Self::AgentCalls => "/agent",
            Self::Dashboard => "/dashboard",
            Self::DashboardEvents => "/dashboard/events",
            Self::DashboardExport => "/dashboard/export",
            Self::DashboardScript => "/static/dashboard.js",
            Self::Reports => "/reports",
            Self::ReportExport => "/reports/export",
            Self::ReportCalls => "/reports/calls",
            Self::ReportFiles => "/reports/files",
            Self::ReportFile => "/reports/files/{name}",
            Self::ScreenPop => "/agent/calls/{call_sid}",
            Self::CallTimeline => "/agent/calls/{call_sid}/timeline",
            Self::Login => "/agent/login",
            Self::Logout => "/agent/logout",
            Self::Stylesheet => "/static/agent.css",
            Self::Metrics => "/metrics",
            Self::Status => "/status",
            Self::SelfServiceDemo => "/demo/self-service",
            Self::Hold => "/hold",
            Self::HoldAudio => "/static/hold.wav",
            Self::QueueConnect => "/queue/connect",
            Self::Whisper => "/whisper/{call_sid}",
            Self::Fallback => "/fallback",
            Self::Voice => "/voice",
            Self::VoiceOnLine => "/voice/{line}",
            Self::Dialed => "/voice/{line}/dialed",
            Self::Entry => "/voice/{line}/{stage}",
        }
    }

    /// Pages, the API and static files: people and machines that never wait
    /// on the CRM, so a request that takes long is a client holding on.
    pub fn is_page(self) -> bool {
        matches!(
            self,
            Self::Health
                | Self::ApiCall
                | Self::ApiLockout
                | Self::ApiAudit
                | Self::ApiCustomerRecords
                | Self::ApiStats
                | Self::AgentCalls
                | Self::Dashboard
                | Self::DashboardEvents
                | Self::DashboardExport
                | Self::DashboardScript
                | Self::Reports
                | Self::ReportExport
                | Self::ReportCalls
                | Self::ReportFiles
                | Self::ReportFile
                | Self::ScreenPop
                | Self::CallTimeline
                | Self::Login
                | Self::Logout
                | Self::Stylesheet
                | Self::Metrics
                | Self::HoldAudio
        )
    }

    /// The JSON API, whose refusals are JSON rather than the login page.
    pub fn is_api(self) -> bool {
        matches!(self, Self::ApiCall | Self::ApiLockout | Self::ApiAudit | Self::ApiCustomerRecords | Self::ApiStats)
    }
}

/// A request path read back into its route and the segments its pattern
/// names (`{line}`, `{stage}`, `{call_sid}`…), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised<'a> {
    pub route: Route,
    pub params: Vec<&'a str>,
}

impl Recognised<'_> {
    /// The prompt an [`Route::Entry`] path names, if it is a known one.
    pub fn stage(&self) -> Option<Stage> {
        match (self.route, self.params.as_slice()) {
            (Route::Entry, [_, stage]) => Stage::parse(stage),
            _ => None,
        }
    }
}

/// The route that serves `path` (a query is ignored), as the route table
/// would pick it.
pub fn recognise(path: &str) -> Option<Recognised<'_>> {
    let (route, given) = find(path)?;
    let params = route.pattern()[1..]
        .split('/')
        .zip(given.split('/'))
        .filter(|(want, _)| want.starts_with('{'))
        .map(|(_, got)| got)
        .collect();
    Some(Recognised { route, params })
}

/// The route that serves `path`, like [`recognise`] without collecting
/// its segments: nothing is allocated (it runs on every request).
pub fn route_of(path: &str) -> Option<Route> {
    find(path).map(|(route, _)| route)
}

/// The route whose pattern `path` matches, and the path's segments after
/// the leading slash.
fn find(path: &str) -> Option<(Route, &str)> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let given = path.strip_prefix('/')?;
    // Most requests (webhooks above all) are to a pattern without a
    // segment to match: one lookup instead of a walk through every pattern.
    if let Some(&route) = FIXED.get(path) {
        return Some((route, given));
    }
    Some((matching(given)?, given))
}

/// The patterns without a `{segment}`, each of which [`matching`] finds
/// for its own path (no earlier pattern claims it).
static FIXED: std::sync::LazyLock<std::collections::HashMap<&'static str, Route>> = std::sync::LazyLock::new(|| {
    Route::ALL
        .into_iter()
        .filter(|r| !r.pattern().contains('{') && matching(&r.pattern()[1..]) == Some(*r))
        .map(|r| (r.pattern(), r))
        .collect()
});

/// The first route (in registration order) whose pattern matches `given`,
/// a path without its leading slash.
fn matching(given: &str) -> Option<Route> {
    let count = given.split('/').count();
    PATTERNS.get(count)?.iter().find_map(|(route, want)| {
        let fits = want.iter().zip(given.split('/')).all(|(w, g)| match w {
            Some(w) => *w == g,
            None => !g.is_empty(),
        });
        fits.then_some(*route)
    })
}

/// Each route's pattern split into its segments (`None` for a
/// `{segment}`), grouped by how many segments it has, each group in
/// registration order: a path is only compared with the patterns of its
/// length, and no pattern is split again per request.
type Segments = Box<[Option<&'static str>]>;
static PATTERNS: std::sync::LazyLock<Vec<Vec<(Route, Segments)>>> = std::sync::LazyLock::new(|| {
    let mut by_count: Vec<Vec<(Route, Segments)>> = Vec::new();
    for route in Route::ALL {
        let want: Segments = route.pattern()[1..].split('/').map(|w| (!w.starts_with('{')).then_some(w)).collect();
        if by_count.len() <= want.len() {
            by_count.resize_with(want.len() + 1, Vec::new);
        }
        by_count[want.len()].push((route, want));
    }
    by_count
});

/// `path` as the request log shows it: a customer id in it (a
/// `{customer_id}` segment) masked, as every identifier in the logs is.
pub fn for_log(path: &str) -> std::borrow::Cow<'_, str> {
    let Some(route) = route_of(path) else { return path.into() };
    let pattern = route.pattern();
    if !pattern.contains("{customer_id}") {
        return path.into();
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<String> = pattern[1..]
        .split('/')
        .zip(path[1..].split('/'))
        .map(|(want, got)| if want == "{customer_id}" { crate::flow::phone::mask(got) } else { got.to_string() })
        .collect();
    format!("/{}", segments.join("/")).into()
}

/// The path of a call's screen pop (what a screen-pop link signs).
pub fn screen_pop(call_sid: &str) -> String {
    format!("/agent/calls/{call_sid}")
}

/// The absolute URLs Vouch gives Twilio, on its public base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// The public base URL, without a trailing slash.
    base: String,
}

impl Urls {
    pub fn new(public_base: &str) -> Self {
        Self { base: public_base.trim_end_matches('/').to_string() }
    }

    /// The public base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` on the public base URL.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A configured URL: absolute as is, or a path on Vouch's public URL.
    pub fn resolve(&self, url: &str) -> String {
        if url.starts_with('/') && !url.starts_with("//") {
            self.absolute(url)
        } else {
            url.to_string()
        }
    }

    /// A Voice URL: `/voice/{line}`, or `/voice` (the line from the number dialled).
    pub fn voice(&self, line: Option<&str>) -> String {
        match line {
            Some(line) => format!("{}/voice/{line}", self.base),
            None => self.of(Route::Voice),
        }
    }

    /// The Gather action for an entry at `stage` on `line`, carrying `state`.
    pub fn entry(&self, line: &str, stage: Stage, state: &str) -> String {
        format!("{}/voice/{line}/{}?state={state}", self.base, stage.as_str())
    }

    /// The whisper an answering agent hears about the caller's call.
    pub fn whisper(&self, call_sid: &str) -> String {
        format!("{}/whisper/{call_sid}", self.base)
    }

    /// The `<Dial action>` of a dial from `line`.
    pub fn dialed(&self, line: &str) -> String {
        format!("{}/voice/{line}/dialed", self.base)
    }

    /// A route without parameters (`/hold`, `/static/hold.wav`…).
    pub fn of(&self, route: Route) -> String {
        debug_assert!(!route.pattern().contains('{'), "{route:?} has parameters");
        self.absolute(route.pattern())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path each route serves, built as Vouch builds it where it can.
    fn example(route: Route) -> String {
        let urls = Urls::new("https://ivr.example.com/");
        let sid = "CA0123456789abcdef0123456789abcdef";
        let built = match route {
            Route::Entry => urls.entry("support", Stage::Verify, "k.p.m"),
            Route::Whisper => urls.whisper(sid),
            Route::Dialed => urls.dialed("support"),
            Route::ScreenPop => urls.absolute(&screen_pop(sid)),
            Route::CallTimeline => urls.absolute(&format!("{}/timeline", screen_pop(sid))),
            Route::ApiCall => urls.absolute(&format!("/api/calls/{sid}")),
            Route::ApiLockout => urls.absolute("/api/lockouts/12345678"),
            Route::ApiCustomerRecords => urls.absolute("/api/customers/12345678/records"),
            Route::VoiceOnLine => urls.absolute("/voice/support"),
            Route::ReportFile => urls.absolute("/reports/files/weekly_vouch-report.csv"),
            other => urls.of(other),
        };
        built.strip_prefix("https://ivr.example.com").expect("on the base URL").to_string()
    }

    #[test]
    fn every_route_reads_back_from_the_path_built_for_it() {
        for route in Route::ALL {
            let path = example(route);
            assert_eq!(recognise(&path).map(|r| r.route), Some(route), "{path}");
        }
        assert_eq!(Route::ALL.len(), Route::ALL.iter().collect::<std::collections::HashSet<_>>().len());
    }

    /// The first route whose pattern matches `given`, each pattern split
    /// and compared in turn: what [`matching`] must agree with.
    fn walk(given: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|route| {
            let (mut want, mut got) = (route.pattern()[1..].split('/'), given.split('/'));
            loop {
                match (want.next(), got.next()) {
                    (None, None) => return true,
                    (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                    (Some(w), Some(g)) if !w.starts_with('{') && w == g => {}
                    _ => return false,
                }
            }
        })
    }

    #[test]
    fn the_grouped_patterns_find_what_a_walk_through_every_pattern_finds() {
        let mut paths: Vec<String> = Route::ALL.into_iter().map(example).collect();
        // Every pattern with its segments filled, with one segment more
        // and one fewer, and paths no route serves.
        for route in Route::ALL {
            let filled = route.pattern().replace("{line}", "support").replace(['{', '}'], "");
            paths.extend([format!("{filled}/"), format!("{filled}/x")]);
            paths.extend(filled.rsplit_once('/').map(|(shorter, _)| format!("{shorter}/")));
            paths.push(filled);
        }
        paths.extend(
            ["/", "//", "/voice//identify", "/voice/a/b/c", "/agent/calls//timeline", "/x/y/z/w/v/u"].map(String::from),
        );
        let mut found = std::collections::HashSet::new();
        for path in &paths {
            let given = &path.split(['?', '#']).next().unwrap()[1..];
            assert_eq!(matching(given), walk(given), "{path}");
            found.insert(walk(given));
        }
        assert!(found.len() > Route::ALL.len(), "every route, and no route, were among the paths");
    }

    #[test]
    fn the_lookup_of_fixed_patterns_finds_what_the_walk_finds() {
        assert_eq!(FIXED.get("/voice"), Some(&Route::Voice), "the first webhook takes the lookup");
        for route in Route::ALL {
            let path = example(route);
            let given = path.split(['?', '#']).next().unwrap().strip_prefix('/').unwrap();
            assert_eq!(route_of(&path), walk(given), "{path}");
        }
        for path in ["/voice/support/identify", "/voice/sales/dialed", "/healthz/", "/voice/", "/"] {
            assert_eq!(route_of(path), walk(&path[1..]), "{path}");
        }
    }

    #[test]
    fn entries_name_their_stage_and_dialed_is_not_a_stage() {
        let r = recognise("/voice/support/identify?state=abc").unwrap();
        assert_eq!((r.route, r.stage(), r.params), (Route::Entry, Some(Stage::Identify), vec!["support", "identify"]));
        assert_eq!(recognise("/voice/sales/verify").unwrap().stage(), Some(Stage::Verify));
        assert_eq!(recognise("/voice/sales/dialed").unwrap().route, Route::Dialed);
        assert_eq!(recognise("/voice/sales/other").unwrap().stage(), None);
        for unknown in ["", "/", "/voice/", "/voice//identify", "/voice/a/b/c", "/agent/x", "voice", "/nope"] {
            assert_eq!(recognise(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn the_request_log_masks_customer_ids_in_paths() {
        assert_eq!(for_log("/api/customers/12345678/records"), "/api/customers/******78/records");
        assert_eq!(for_log("/api/lockouts/12345678?x=1"), "/api/lockouts/******78");
        let sid = "/api/calls/CA0123456789abcdef0123456789abcdef";
        assert_eq!(for_log(sid), sid, "a CallSid is not a customer id");
        assert_eq!(for_log("/nope/12345678"), "/nope/12345678");
        // Every route whose pattern names a customer is masked.
        for route in Route::ALL.into_iter().filter(|r| r.pattern().contains("{customer_id}")) {
            let path = route.pattern().replace("{customer_id}", "87654321").replace(['{', '}'], "");
            let logged = for_log(&path);
            assert!(!logged.contains("87654321") && logged.contains("******21"), "{route:?}: {logged}");
        }
    }

    #[test]
    fn configured_urls_resolve_on_the_public_base() {
        let urls = Urls::new("https://ivr.example.com");
        assert_eq!(urls.resolve("/hold"), "https://ivr.example.com/hold");
        assert_eq!(urls.resolve("https://app.example.com/x"), "https://app.example.com/x");
        assert_eq!(urls.resolve("//evil.example.com/x"), "//evil.example.com/x");
        assert_eq!(urls.of(Route::HoldAudio), "https://ivr.example.com/static/hold.wav");
    }
}
