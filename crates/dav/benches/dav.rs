//! Micro-benchmarks of the wire-format hot paths (`make microbench`, numbers in BENCHMARKS.md):
//! parsing the PROPFIND bodies clients send on every sync, and writing the multistatus of a
//! Depth:1 listing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dav::request::{parse_propfind, PropFind};
use dav::response::{MultiStatus, PropStat, Property, Response, ResponseBody, Value};
use dav::PropName;
use http::StatusCode;

/// DAVx5 listing the calendars of a home (Depth:1), as it does on every sync.
const DAVX5_PROP: &str = r#"<?xml version='1.0' encoding='UTF-8' ?><propfind xmlns="DAV:" xmlns:CAL="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/" xmlns:ical="http://apple.com/ns/ical/"><prop><current-user-privilege-set /><resourcetype /><displayname /><owner /><CAL:calendar-description /><ical:calendar-color /><CAL:supported-calendar-component-set /><CS:source /><CAL:schedule-calendar-transp /><CAL:calendar-timezone /><CS:getctag /><sync-token /></prop></propfind>"#;

/// iOS (dataaccessd) listing a calendar home: many properties, several namespaces, prefixes
/// declared on the elements that use them.
const IOS_PROP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:">
  <A:prop>
    <A:add-member/>
    <C:allowed-sharing-modes xmlns:C="http://calendarserver.org/ns/"/>
    <D:autoprovisioned xmlns:D="http://apple.com/ns/ical/"/>
    <E:bulk-requests xmlns:E="http://me.com/_namespace/"/>
    <D:calendar-color xmlns:D="http://apple.com/ns/ical/"/>
    <B:calendar-description xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:calendar-free-busy-set xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <D:calendar-order xmlns:D="http://apple.com/ns/ical/"/>
    <B:calendar-timezone xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:current-user-privilege-set/>
    <B:default-alarm-vevent-date xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:default-alarm-vevent-datetime xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:displayname/>
    <C:getctag xmlns:C="http://calendarserver.org/ns/"/>
    <C:invite xmlns:C="http://calendarserver.org/ns/"/>
    <D:language-code xmlns:D="http://apple.com/ns/ical/"/>
    <D:location-code xmlns:D="http://apple.com/ns/ical/"/>
    <A:owner/>
    <C:pre-publish-url xmlns:C="http://calendarserver.org/ns/"/>
    <C:publish-url xmlns:C="http://calendarserver.org/ns/"/>
    <C:push-transports xmlns:C="http://calendarserver.org/ns/"/>
    <C:pushkey xmlns:C="http://calendarserver.org/ns/"/>
    <A:quota-available-bytes/>
    <A:quota-used-bytes/>
    <D:refreshrate xmlns:D="http://apple.com/ns/ical/"/>
    <A:resource-id/>
    <A:resourcetype/>
    <B:schedule-calendar-transp xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:schedule-default-calendar-URL xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <C:source xmlns:C="http://calendarserver.org/ns/"/>
    <C:subscribed-strip-alarms xmlns:C="http://calendarserver.org/ns/"/>
    <C:subscribed-strip-attachments xmlns:C="http://calendarserver.org/ns/"/>
    <C:subscribed-strip-todos xmlns:C="http://calendarserver.org/ns/"/>
    <B:supported-calendar-component-set xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:supported-calendar-component-sets xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:supported-report-set/>
    <A:sync-token/>
  </A:prop>
</A:propfind>
"#;

/// `allprop` with an `include`, as Thunderbird and older clients ask for a resource.
const ALLPROP_INCLUDE: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:allprop/><D:include><C:supported-calendar-component-set/><C:calendar-timezone/></D:include></D:propfind>"#;

/// The shape of the config every bench here uses: short, so `make microbench` takes about a
/// minute on a shared two-core machine.
fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

fn propfind_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("propfind_parse");
    for (name, body) in [("davx5_prop", DAVX5_PROP), ("ios_prop", IOS_PROP), ("allprop_include", ALLPROP_INCLUDE)] {
        // The input must parse, and into what it is meant to be, or the numbers mean nothing.
        match parse_propfind(body.as_bytes()).unwrap() {
            PropFind::Prop(names) => assert!(names.len() >= 12, "{name}: {names:?}"),
            PropFind::AllProp { include } => assert_eq!(include.len(), 2, "{name}"),
            PropFind::PropName => panic!("{name}: propname"),
        }
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse_propfind(black_box(body.as_bytes()))));
    }
    group.finish();
}

/// A Depth:1 PROPFIND answer for `members` calendar objects: getetag, resourcetype (empty for
/// an object) and getcontenttype, in one 200 propstat each, as the gateway builds it.
fn listing(members: usize) -> MultiStatus {
    let responses = (0..members)
        .map(|n| Response {
            href: format!("/dav/calendars/bench/bench/bench-{n:05}.ics"),
            body: ResponseBody::PropStats(vec![PropStat {
                status: StatusCode::OK,
                props: vec![
                    // A store ETag: a hex digest, quoted as the gateway does.
                    Property::new(PropName::GetETag, Value::Text(format!("\"{:016x}{:016x}\"", n * 7919, n * 104_729))),
                    Property::new(PropName::ResourceType, Value::Empty),
                    Property::new(PropName::GetContentType, Value::Text("text/calendar; charset=utf-8".into())),
                ],
            }]),
            error: None,
        })
        .collect();
    MultiStatus { responses, sync_token: None }
}

fn multistatus_write(c: &mut Criterion) {
    let members = 1_000;
    let multistatus = listing(members);
    let written = multistatus.to_xml();
    assert_eq!(written.matches("<D:response>").count(), members);
    let mut group = c.benchmark_group("multistatus_write");
    group.throughput(Throughput::Elements(members as u64));
    group.bench_function("1000_members_getetag_resourcetype_getcontenttype", |b| {
        b.iter(|| black_box(&multistatus).to_xml())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = propfind_parse, multistatus_write
}
criterion_main!(benches);
