//! The tab's side of the port protocol (`page::Page`), alone and against the real hub state
//! machine: what a tab sends, what it remembers for a new hub, and what it lets go of.

use switchboard_shared::hub::{HubConfig, Output, Switchboard};
use switchboard_shared::page::Page;
use switchboard_shared::port::{self, AckRequest, Bytes, Endpoint, FromHub, Options, ToHub, PROTOCOL_VERSION};

fn page() -> Page {
    let endpoint =
        Endpoint { url: "http://h:1".into(), path: "/socket.io".into(), namespace: "/".into(), query: "a=1".into() };
    Page::new("tab1".into(), endpoint, Some(r#"{"k":1}"#.into()), Options::default())
}

/// Runs `f` with a sink and decodes what it sent, as the hub would.
fn sent(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Vec<ToHub> {
    let mut out = Vec::new();
    f(&mut |b: &[u8]| out.push(port::decode::<ToHub>(b).expect("the hub decodes what a page sends")));
    out
}

fn emit(event: &str, ack: Option<AckRequest>, volatile: bool) -> ToHub {
    ToHub::Emit { seq: 99, event: event.into(), args: "[1]".into(), bins: vec![Bytes(vec![7])], ack, volatile }
}

fn seqs(msgs: &[ToHub]) -> Vec<u32> {
    msgs.iter().filter_map(|m| if let ToHub::Emit { seq, .. } = m { Some(*seq) } else { None }).collect()
}

#[test]
fn attach_says_hello_then_every_subscription_and_room() {
    let mut p = page();
    for m in [
        ToHub::Subscribe { event: "a".into() },
        ToHub::Subscribe { event: "b".into() },
        ToHub::Join { req: 3, room: "r".into() },
        ToHub::Unsubscribe { event: "a".into() },
        ToHub::Join { req: 4, room: "gone".into() },
        ToHub::Leave { req: 5, room: "gone".into() },
    ] {
        p.send(m, &mut |_| {});
    }
    let out = sent(|o| p.attach(&mut |b| o(b)));
    let ToHub::Hello { version, tab, endpoint, auth, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(
        (*version, tab.as_str(), endpoint.query.as_str(), auth.as_deref()),
        (PROTOCOL_VERSION, "tab1", "a=1", Some(r#"{"k":1}"#))
    );
    assert_eq!(out[1..], [ToHub::Subscribe { event: "b".into() }, ToHub::Join { req: 0, room: "r".into() }]);
}

#[test]
fn durable_emits_stay_until_stored_or_refused_and_a_restart_resends_them_in_order() {
    let mut p = page();
    let out = sent(|o| {
        p.send(emit("e1", None, false), &mut |b| o(b));
        p.send(emit("ack", Some(AckRequest { id: 1, timeout_ms: 5 }), false), &mut |b| o(b));
        p.send(emit("vol", None, true), &mut |b| o(b));
        p.send(emit("e2", None, false), &mut |b| o(b));
        p.send(emit("e3", None, false), &mut |b| o(b));
    });
    // seq is the page's own numbering, whatever the caller put there.
    assert_eq!(seqs(&out), [0, 1, 2, 3, 4]);
    assert_eq!(p.unconfirmed(), 3, "only e1, e2 and e3 are durable");

    // A busy hub sends several messages in one port message, back to back.
    let mut batch = port::encode(&FromHub::Stored { seq: 0 });
    batch.extend(port::encode(&FromHub::Refused { seq: 4, reason: "full".into() }));
    let (first, rest) = p.receive(&batch).expect("first of the batch");
    assert_eq!(first, FromHub::Stored { seq: 0 });
    let (second, rest) = p.receive(rest).expect("second of the batch");
    assert!(matches!(second, FromHub::Refused { seq: 4, reason } if reason == "full"));
    assert!(rest.is_empty());
    assert_eq!(p.unconfirmed(), 1);

    let again = sent(|o| p.restart(&mut |b| o(b)));
    assert!(matches!(again[0], ToHub::Hello { .. }));
    assert_eq!(seqs(&again), [3], "only e2 is still unconfirmed; it goes out with its old seq");
}

#[test]
fn malformed_bytes_from_the_hub_are_an_error_and_change_nothing() {
    let mut p = page();
    p.send(emit("e", None, false), &mut |_| {});
    for bad in [&[][..], &[0xff, 0xff, 0xff][..], &[7][..], &[2, 5, b'a'][..], &[99][..]] {
        assert!(p.receive(bad).is_err(), "{bad:?}");
    }
    assert_eq!(p.unconfirmed(), 1);
}

/// A page and the hub state machine, wired by bytes: Hello is welcomed, a durable emit
/// made while the hub cannot send is stored and confirmed, and the page lets it go.
#[test]
fn a_page_and_the_hub_agree_on_every_byte() {
    let mut hub = Switchboard::new(HubConfig::default(), 7);
    let mut p = page();
    let mut to_hub = Vec::new();
    p.attach(&mut |b| to_hub.push(b.to_vec()));
    p.send(emit("offline", None, false), &mut |b| to_hub.push(b.to_vec()));
    for b in &to_hub {
        hub.handle_port_message(1, b, 1_000);
    }
    let mut welcomed = false;
    let mut stored = false;
    while let Some(o) = hub.poll_output() {
        if let Output::Persist { key, .. } = o {
            hub.handle_persisted(&[key]);
        }
        if let Output::Post { tabs, msg } = o {
            assert_eq!(tabs, [1]);
            match p.receive(&port::encode(&msg)) {
                Ok((FromHub::Welcome { .. }, [])) => welcomed = true,
                Ok((FromHub::Stored { seq: 0 }, [])) => stored = true,
                Ok(_) => {}
                Err(e) => panic!("the page cannot read {msg:?}: {e}"),
            }
        }
    }
    assert!(welcomed && stored);
    assert_eq!(p.unconfirmed(), 0);
}

#[test]
fn request_ids_are_never_zero_and_do_not_repeat_soon() {
    let mut p = page();
    let ids: Vec<u32> = (0..1000).map(|_| p.next_req()).collect();
    assert!(ids.iter().all(|&i| i != 0));
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}
