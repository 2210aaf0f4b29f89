//! The worked examples of the C14N 1.0 and exclusive C14N 1.0 recommendations (the parts that
//! need no DTD), and the behaviour of the API around them.

use super::*;

fn c14n(method: Method, with_comments: bool) -> Canonicalization {
    Canonicalization {
        method,
        with_comments,
    }
}

fn exclusive(prefixes: &[&str]) -> Method {
    Method::Exclusive {
        inclusive_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
    }
}

fn run(doc: &str, method: Method, with_comments: bool, subset: Subset) -> String {
    let out = canonicalize_to_vec(
        doc.as_bytes(),
        &c14n(method, with_comments),
        subset,
        Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(out).unwrap()
}

fn offset_of(doc: &str, needle: &str) -> usize {
    doc.find(needle).unwrap()
}

/// C14N §3.1, less the DTD (which the reader refuses).
const SPEC_3_1: &str = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n<doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->\n";

#[test]
fn spec_3_1_nodes_outside_the_root() {
    assert_eq!(
        run(SPEC_3_1, Method::Inclusive, false, Subset::Document),
        "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>"
    );
    assert_eq!(
        run(SPEC_3_1, Method::Inclusive, true, Subset::Document),
        "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!<!-- Comment 1 --></doc>\n<?pi-without-data?>\n<!-- Comment 2 -->\n<!-- Comment 3 -->"
    );
}

/// C14N §3.3, less the defaulted attribute that needed the DTD.
#[test]
fn spec_3_3_start_and_end_tags() {
    let doc = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
    let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
    assert_eq!(
        run(doc, Method::Inclusive, false, Subset::Document),
        expected
    );
}

/// C14N §3.4 (without a DTD every attribute is CDATA, so normNames and normId keep their spaces).
#[test]
fn spec_3_4_character_modifications() {
    let doc = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n   <normNames attr='   A   &#x20;&#13;&#xa;&#9;   B   '/>\n</doc>";
    let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n   <normNames attr=\"   A    &#xD;&#xA;&#x9;   B   \"></normNames>\n</doc>";
    assert_eq!(
        run(doc, Method::Inclusive, false, Subset::Document),
        expected
    );
}

/// Exclusive C14N §2.2: the same subtree in two contexts.
#[test]
fn exc_spec_2_2_subtree_in_two_contexts() {
    let first = "<n0:local xmlns:n0=\"foo:bar\" xmlns:n3=\"ftp://example.org\">\n  <n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"/>\n  </n1:elem2>\n</n0:local>";
    let second = "<n2:pdu xmlns:n1=\"http://example.com\"\n           xmlns:n2=\"http://foo.example\"\n           xml:lang=\"fr\"\n           xml:space=\"retain\">\n  <n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"/>\n  </n1:elem2>\n</n2:pdu>";
    let only = |doc: &str| Subset::Only(offset_of(doc, "<n1:elem2"));

    assert_eq!(
        run(first, Method::Inclusive, false, only(first)),
        "<n1:elem2 xmlns:n0=\"foo:bar\" xmlns:n1=\"http://example.net\" xmlns:n3=\"ftp://example.org\" xml:lang=\"en\">\n     <n3:stuff></n3:stuff>\n  </n1:elem2>"
    );
    assert_eq!(
        run(second, Method::Inclusive, false, only(second)),
        "<n1:elem2 xmlns:n1=\"http://example.net\" xmlns:n2=\"http://foo.example\" xml:lang=\"en\" xml:space=\"retain\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>"
    );
    let exclusive_form = "<n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>";
    assert_eq!(
        run(first, exclusive(&[]), false, only(first)),
        exclusive_form
    );
    assert_eq!(
        run(second, exclusive(&[]), false, only(second)),
        exclusive_form
    );
}

#[test]
fn prefix_list_renders_unused_namespaces_by_inclusive_rules() {
    let doc = r#"<r xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b"><a:x><y/></a:x></r>"#;
    assert_eq!(
        run(doc, exclusive(&[]), false, Subset::Document),
        r#"<r xmlns="urn:d"><a:x xmlns:a="urn:a"><y></y></a:x></r>"#
    );
    assert_eq!(
        run(
            doc,
            exclusive(&["b", "#default", "zz", "xml"]),
            false,
            Subset::Document
        ),
        r#"<r xmlns="urn:d" xmlns:b="urn:b"><a:x xmlns:a="urn:a"><y></y></a:x></r>"#
    );
    let x = Subset::Only(offset_of(doc, "<a:x"));
    assert_eq!(
        run(doc, exclusive(&["b"]), false, x),
        r#"<a:x xmlns:a="urn:a" xmlns:b="urn:b"><y xmlns="urn:d"></y></a:x>"#
    );
}

#[test]
fn undeclared_default_is_rendered_only_where_it_cancels_one() {
    let doc = r#"<r xmlns="urn:d"><a xmlns=""><b xmlns=""/></a><c xmlns=""/></r>"#;
    let expected = r#"<r xmlns="urn:d"><a xmlns=""><b></b></a><c xmlns=""></c></r>"#;
    assert_eq!(
        run(doc, Method::Inclusive, false, Subset::Document),
        expected
    );
    assert_eq!(run(doc, exclusive(&[]), false, Subset::Document), expected);
    let a = Subset::Only(offset_of(doc, "<a "));
    assert_eq!(run(doc, Method::Inclusive, false, a), "<a><b></b></a>");
}

#[test]
fn without_removes_the_element_but_keeps_the_text_around_it() {
    let doc =
        "<!--c--><r xmlns:ds=\"urn:ds\">a\n<ds:Signature><ds:x/><!--in--></ds:Signature>\nb</r>";
    let without = Subset::Without(offset_of(doc, "<ds:Signature"));
    assert_eq!(
        run(doc, Method::Inclusive, true, without),
        "<!--c-->\n<r xmlns:ds=\"urn:ds\">a\n\nb</r>"
    );
    assert_eq!(run(doc, exclusive(&[]), false, without), "<r>a\n\nb</r>");
}

#[test]
fn only_stops_reading_at_the_end_of_the_subtree() {
    let doc = "<r><s><t/></s><broken></r>";
    let s = Subset::Only(offset_of(doc, "<s>"));
    assert_eq!(run(doc, Method::Inclusive, false, s), "<s><t></t></s>");
    let err = canonicalize_to_vec(
        doc.as_bytes(),
        &c14n(Method::Inclusive, false),
        Subset::Document,
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "edxml.malformed");
}

#[test]
fn naming_a_missing_element_is_an_error() {
    let doc = b"<r><s/></r>";
    for subset in [Subset::Only(1), Subset::Without(2), Subset::Only(999)] {
        let err = canonicalize_to_vec(
            doc,
            &c14n(Method::Inclusive, false),
            subset,
            Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "c14n.element_not_found", "{subset:?}");
    }
}

#[test]
fn reader_errors_and_write_errors_are_reported() {
    let err = canonicalize_to_vec(
        b"<!DOCTYPE r><r/>",
        &c14n(Method::Inclusive, false),
        Subset::Document,
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "xml.dtd_forbidden");

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let err = canonicalize(
        b"<r/>",
        &c14n(Method::Inclusive, false),
        Subset::Document,
        Limits::default(),
        &mut Broken,
    )
    .unwrap_err();
    assert_eq!(err.code(), "c14n.write_failed");
}

#[test]
fn algorithm_uris_round_trip() {
    for uri in [C14N, C14N_WITH_COMMENTS, EXC_C14N, EXC_C14N_WITH_COMMENTS] {
        let c = Canonicalization::from_uri(uri, vec!["ds".into()]).unwrap();
        assert_eq!(c.uri(), uri);
    }
    assert_eq!(
        Canonicalization::from_uri(EXC_C14N, vec!["ds".into()])
            .unwrap()
            .method,
        exclusive(&["ds"])
    );
    assert!(Canonicalization::from_uri("http://www.w3.org/2006/12/xml-c14n11", vec![]).is_none());
    assert!(Canonicalization::from_uri("http://www.w3.org/2001/10/xml-exc-c14n", vec![]).is_none());
}

#[test]
fn prefix_lists_split_on_xml_whitespace() {
    assert_eq!(
        parse_prefix_list(" ds\t#default\n\r xsi "),
        vec!["ds", "#default", "xsi"]
    );
    assert!(parse_prefix_list("  ").is_empty());
}

#[test]
fn large_text_passes_through_unchanged() {
    let body = "QUJD".repeat(100_000);
    let doc = format!("<a>{body}</a>");
    assert_eq!(run(&doc, Method::Inclusive, false, Subset::Document), doc);
}

#[test]
fn namespace_uris_are_escaped_like_attribute_values() {
    let doc = "<r xmlns:p=\"urn:a&amp;b&lt;&quot;&#9;c\" xmlns=\"urn:&#x20AC;\"><p:x/></r>";
    let expected = "<r xmlns=\"urn:€\" xmlns:p=\"urn:a&amp;b&lt;&quot;&#x9;c\"><p:x></p:x></r>";
    assert_eq!(
        run(doc, Method::Inclusive, false, Subset::Document),
        expected
    );
}
