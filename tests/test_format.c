/* test_format.c - unit tests for the JSON Schema format checkers (validator/format.c).
 * Every table case is checked from an exactly-sized heap copy (no NUL, no slack), so under ASan
 * any read past n is a crash; explicit prefix/suffix cases check that n alone bounds the input. */
#include "format.h"
#include "idna.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

typedef struct {
    format_id f;
    const char *s;
    bool ok;
} format_case;

#define Y(f, s)                                                                                    \
    {                                                                                              \
        FORMAT_##f, s, true                                                                        \
    }
#define N(f, s)                                                                                    \
    {                                                                                              \
        FORMAT_##f, s, false                                                                       \
    }

static const format_case cases[] = {
    /* date */
    Y(DATE, "1963-06-19"),
    Y(DATE, "2024-02-29"),
    Y(DATE, "2000-02-29"),
    Y(DATE, "0400-02-29"),
    Y(DATE, "0001-01-01"),
    Y(DATE, "2020-01-31"),
    Y(DATE, "2020-04-30"),
    Y(DATE, "2020-12-31"),
    N(DATE, "2023-02-29"),
    N(DATE, "1900-02-29"),
    N(DATE, "2100-02-29"),
    N(DATE, "2020-02-30"),
    N(DATE, "2020-04-31"),
    N(DATE, "2020-01-32"),
    N(DATE, "2024-00-15"),
    N(DATE, "2024-13-01"),
    N(DATE, "2024-01-00"),
    N(DATE, "1998-1-20"),
    N(DATE, "1998-01-1"),
    N(DATE, "06/19/1963"),
    N(DATE, "2013-350"),
    N(DATE, "20230328"),
    N(DATE, "2023-W01"),
    N(DATE, "2020-01-01Z"),
    N(DATE, "2020-11-28T23:55:45Z"),
    N(DATE, " 2024-01-15"),
    N(DATE, "2024-01-15 "),
    N(DATE, "+2020-01-01"),
    N(DATE, "12020-01-01"),
    N(DATE, "2020-01--1"),
    N(DATE, "YYYY-01-01"),
    N(DATE, "1963-06-1\xe0\xa7\xaa"), /* Bengali digit four */
    N(DATE, ""),

    /* time */
    Y(TIME, "08:30:06Z"),
    Y(TIME, "08:30:06z"),
    Y(TIME, "23:59:60Z"),
    Y(TIME, "23:59:60+00:00"),
    Y(TIME, "01:29:60+01:30"),
    Y(TIME, "23:29:60+23:30"),
    Y(TIME, "15:59:60-08:00"),
    Y(TIME, "00:29:60-23:30"),
    Y(TIME, "23:20:50.52Z"),
    Y(TIME, "08:30:06.283185Z"),
    Y(TIME, "08:30:06+00:20"),
    Y(TIME, "12:34:56-00:00"),
    Y(TIME, "00:00:00+23:59"),
    N(TIME, "12:00:60Z"),
    N(TIME, "22:59:60Z"),
    N(TIME, "23:58:60Z"),
    N(TIME, "23:59:60+01:00"),
    N(TIME, "23:59:60-01:00"),
    N(TIME, "23:59:60-00:30"),
    N(TIME, "00:00:61Z"),
    N(TIME, "24:00:00Z"),
    N(TIME, "00:60:00Z"),
    N(TIME, "01:02:03+24:00"),
    N(TIME, "01:02:03+00:60"),
    N(TIME, "01:02:03Z+00:30"),
    N(TIME, "08:30:06-8:000"),
    N(TIME, "08:30:06+0130"),
    N(TIME, "08:30:06+01"),
    N(TIME, "08:30:06 PST"),
    N(TIME, "08:30:06#00:20"),
    N(TIME, "01:01:01,1111"),
    N(TIME, "12:00:00"),
    N(TIME, "12:00:00.52"),
    N(TIME, "12:00:00.Z"),
    N(TIME, "8:3:6Z"),
    N(TIME, "008:030:006Z"),
    N(TIME, "ab:cd:efZ"),
    N(TIME, "08:30:06Z\n"),
    N(TIME, "2020-11-28T23:55:45Z"),
    N(TIME, "1\xe0\xa7\xa8:00:00Z"),
    N(TIME, ""),

    /* date-time */
    Y(DATE_TIME, "1963-06-19T08:30:06.283185Z"),
    Y(DATE_TIME, "1963-06-19T08:30:06Z"),
    Y(DATE_TIME, "1963-06-19t08:30:06.283185z"),
    Y(DATE_TIME, "1937-01-01T12:00:27.87+00:20"),
    Y(DATE_TIME, "1990-12-31T15:59:50.123-08:00"),
    Y(DATE_TIME, "1998-12-31T23:59:60Z"),
    Y(DATE_TIME, "1998-12-31T15:59:60.123-08:00"),
    Y(DATE_TIME, "2024-02-29T00:00:00Z"),
    Y(DATE_TIME, "1985-04-12T00:59:59.999999999999999Z"),
    N(DATE_TIME, "2023-02-29T00:00:00Z"),
    N(DATE_TIME, "1998-12-31T23:59:61Z"),
    N(DATE_TIME, "1998-12-31T23:58:60Z"),
    N(DATE_TIME, "1998-12-31T22:59:60Z"),
    N(DATE_TIME, "1990-02-31T15:59:59.123-08:00"),
    N(DATE_TIME, "1990-12-31T15:59:59-24:00"),
    N(DATE_TIME, "1963-06-19T08:30:06.28123+01:00Z"),
    N(DATE_TIME, "1990-12-31T24:00:00Z"),
    N(DATE_TIME, "1990-12-31T15:60:00Z"),
    N(DATE_TIME, "1990-12-31T10:00:00+10:60"),
    N(DATE_TIME, "06/19/1963 08:30:06 PST"),
    N(DATE_TIME, "2013-350T01:01:01"),
    N(DATE_TIME, "1963-6-19T08:30:06.283185Z"),
    N(DATE_TIME, "1963-06-1T08:30:06.283185Z"),
    N(DATE_TIME, "1963-06-19 08:30:06Z"),
    N(DATE_TIME, "1963-06-19T08:30:06"),
    N(DATE_TIME, "1963-06-19T"),
    N(DATE_TIME, "1963-06-19"),
    N(DATE_TIME, "+11963-06-19T08:30:06.283185Z"),
    N(DATE_TIME, "1963-06-11T0\xe0\xa7\xaa:00:00Z"),

    /* email */
    Y(EMAIL, "joe.bloggs@example.com"),
    Y(EMAIL, "te~st@example.com"),
    Y(EMAIL, "~test@example.com"),
    Y(EMAIL, "test~@example.com"),
    Y(EMAIL, "te.s.t@example.com"),
    Y(EMAIL, "!#$%&'*+-/=?^_`{|}~@example.com"),
    Y(EMAIL, "\"quoted\"@example.com"),
    Y(EMAIL, "\"joe bloggs\"@example.com"),
    Y(EMAIL, "\"joe..bloggs\"@example.com"),
    Y(EMAIL, "\"joe@bloggs\"@example.com"),
    Y(EMAIL, "\"\"@iana.org"),
    Y(EMAIL, "\"\\a\"@iana.org"),
    Y(EMAIL, "\"\\\"\"@iana.org"),
    Y(EMAIL, "\"\\\\\"@iana.org"),
    Y(EMAIL, "joe.bloggs@[127.0.0.1]"),
    Y(EMAIL, "joe.bloggs@[IPv6:::1]"),
    Y(EMAIL, "a@[ipv6:2001:db8::1]"),
    Y(EMAIL, "test@255.255.255.255"),
    Y(EMAIL, "test@c--n.com"),
    Y(EMAIL, "test@123.com"),
    Y(EMAIL, "test@io"),
    N(EMAIL, "2962"),
    N(EMAIL, ".test@example.com"),
    N(EMAIL, "test.@example.com"),
    N(EMAIL, "a..b@example.com"),
    N(EMAIL, "joe.bloggs@invalid=domain.com"),
    N(EMAIL, "joe.bloggs@[127.0.0.300]"),
    N(EMAIL, "user1@oceania.org, user2@oceania.org"),
    N(EMAIL, "@example.com"),
    N(EMAIL, "joe.bloggs@"),
    N(EMAIL, "joe bloggs@example.com"),
    N(EMAIL, "a\xc3\xa9@iana.org"),
    N(EMAIL, "a@\xc3\xa9.org"),
    N(EMAIL, "\"test\\\xc2\xa9\"@iana.org"),
    N(EMAIL, "test@iana.org\n"),
    N(EMAIL, " a@iana.org"),
    N(EMAIL, "a\tb@iana.org"),
    N(EMAIL, "\x7f@iana.org"),
    N(EMAIL, "test\"@iana.org"),
    N(EMAIL, "\"test\"test@iana.org"),
    N(EMAIL, "\"test@iana.org"),
    N(EMAIL, "a@b@c.org"),
    N(EMAIL, "test\\@test@iana.org"),
    N(EMAIL, "[1.2.3.4]@iana.org"),
    N(EMAIL, ""),
    N(EMAIL, "test@-iana.org"),
    N(EMAIL, "test@iana-.com"),
    N(EMAIL, "test@.iana.org"),
    N(EMAIL, "test@iana.org."),
    N(EMAIL, "test@iana..com"),
    N(EMAIL, "test@[1.2.3.4"),
    N(EMAIL, "a@[]"),
    N(EMAIL, "a@[1.2.3]"),
    N(EMAIL, "test@[RFC-5322-domain-literal]"),
    N(EMAIL, "test@a[255.255.255.255]"),
    N(EMAIL, "a@[IPv6:1::2::3]"),
    N(EMAIL, "a,b@iana.org"),
    N(EMAIL, "test(comment)@iana.org"),
    N(EMAIL, "a@b(c).org"),
    N(EMAIL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.org"), /* 65 */

    /* uri */
    Y(URI, "http://foo.bar/?baz=qux#quux"),
    Y(URI, "http://foo.com/blah_(wikipedia)_blah#cite-1"),
    Y(URI, "http://foo.bar/?q=Test%20URL-encoded%20stuff"),
    Y(URI, "http://xn--nw2a.xn--j6w193g/"),
    Y(URI, "http://-.~_!$&'()*+,;=:%40:80%2f::::::@example.com"),
    Y(URI, "http://223.255.255.254"),
    Y(URI, "ftp://ftp.is.co.za/rfc/rfc1808.txt"),
    Y(URI, "ldap://[2001:db8::7]/c=GB?objectClass?one"),
    Y(URI, "http://[::ffff:1.2.3.4]:8080/"),
    Y(URI, "http://[v7.fe80::a+en1]/"),
    Y(URI, "mailto:John.Doe@example.com"),
    Y(URI, "news:comp.infosystems.www.servers.unix"),
    Y(URI, "tel:+1-816-555-1212"),
    Y(URI, "urn:oasis:names:specification:docbook:dtd:xml:4.1.2"),
    Y(URI, "file:///etc/hosts"),
    Y(URI, "http://087.10.0.1/"),
    Y(URI, "http://a.com:"),
    Y(URI, "http://a.com:999999999"),
    Y(URI, "http://:80"),
    Y(URI, "http://@a.com"),
    Y(URI, "http://user@"),
    Y(URI, "http://example.com."),
    Y(URI, "http://under_score.com/"),
    Y(URI, "a+b-c.d:"),
    Y(URI, "s:/a?b?c/d#e/f?g"),
    N(URI, "//foo.bar/?baz=qux#quux"),
    N(URI, "/abc"),
    N(URI, "abc"),
    N(URI, "example.com/path"),
    N(URI, "\\\\WINDOWS\\fileshare"),
    N(URI, "http:// shouldfail.com"),
    N(URI, ":// should fail"),
    N(URI, "bar,baz:foo"),
    N(URI, "1http://example.com"),
    N(URI, "ht_tp://example.com"),
    N(URI, "https://[@example.org/test.txt"),
    N(URI, "https://example.org/foobar\xc2\xae.txt"),
    N(URI, "https://example.org/foobar\\.txt"),
    N(URI, "https://example.org/foobar\".txt"),
    N(URI, "https://example.org/foobar<>.txt"),
    N(URI, "https://example.org/foobar{}.txt"),
    N(URI, "https://example.org/foobar^.txt"),
    N(URI, "https://example.org/foobar`.txt"),
    N(URI, "https://example.org/foo bar.txt"),
    N(URI, "https://example.org/foobar|.txt"),
    N(URI, "http://example.com/%6G"),
    N(URI, "http://example.com/%A"),
    N(URI, "http://example.com/%"),
    N(URI, "http://example.com/?q=%"),
    N(URI, "http://example.com/#a#b"),
    N(URI, "http://example.com:abc/path"),
    N(URI, "http://a.com:8:0"),
    N(URI, "http://a.com::"),
    N(URI, "http://[1::2::3]/"),
    N(URI, "http://[::1/"),
    N(URI, "http://[::1]x/"),
    N(URI, "http://[fe80::1%25eth0]/"),
    N(URI, ""),

    /* uuid */
    Y(UUID, "2EB8AA08-AA98-11EA-B4AA-73B441D16380"),
    Y(UUID, "2eb8aa08-aa98-11ea-b4aa-73b441d16380"),
    Y(UUID, "2eb8aa08-AA98-11ea-B4Aa-73B441D16380"),
    Y(UUID, "00000000-0000-0000-0000-000000000000"),
    Y(UUID, "98d80576-482e-427f-8434-7f86890ab222"),
    Y(UUID, "99c17cbb-656f-664a-940f-1a4568f03487"),
    N(UUID, "2eb8aa08-aa98-11ea-b4aa-73b441d1638"),
    N(UUID, "2eb8aa08-aa98-11ea-b4aa-73b441d163800"),
    N(UUID, "2eb8aa08-aa98-11ea-73b4-41d16380"),
    N(UUID, "2eb8aa08-aa98-11ea-b4ga-73b441d16380"),
    N(UUID, "2eb8aa08aa9811eab4aa73b441d16380"),
    N(UUID, "2eb8aa08aa98-11ea-b4aa73b441d16380"),
    N(UUID, "2eb8-aa08-aa98-11ea-b4aa73b44d1638"),
    N(UUID, "{2eb8aa08-aa98-11ea-b4aa-73b441d1638}"),
    N(UUID, ""),

    /* ipv4 */
    Y(IPV4, "192.168.0.1"),
    Y(IPV4, "0.0.0.0"),
    Y(IPV4, "255.255.255.255"),
    Y(IPV4, "1.2.3.4"),
    N(IPV4, "256.1.1.1"),
    N(IPV4, "1.1.1.256"),
    N(IPV4, "01.2.3.4"),
    N(IPV4, "087.10.0.1"),
    N(IPV4, "1.2.3.00"),
    N(IPV4, "1000.1.1.1"),
    N(IPV4, "127.0.0.0.1"),
    N(IPV4, "127.0"),
    N(IPV4, "1.2.3."),
    N(IPV4, ".1.2.3"),
    N(IPV4, "1..2.3"),
    N(IPV4, "0x7f000001"),
    N(IPV4, "2130706433"),
    N(IPV4, "192.168.1.0/24"),
    N(IPV4, " 1.2.3.4"),
    N(IPV4, "1\xe0\xa7\xa8"
            "7.0.0.1"),
    N(IPV4, ""),

    /* ipv6 */
    Y(IPV6, "::1"),
    Y(IPV6, "::"),
    Y(IPV6, "::abef"),
    Y(IPV6, "::42:ff:1"),
    Y(IPV6, "d6::"),
    Y(IPV6, "1:d6::42"),
    Y(IPV6, "1:2:3:4:5:6:7:8"),
    Y(IPV6, "FE80:0000:0000:0000:0202:B3FF:FE1E:8329"),
    Y(IPV6, "1:2:3:4:5:6:7::"),
    Y(IPV6, "::2:3:4:5:6:7:8"),
    Y(IPV6, "1::d6:192.168.0.1"),
    Y(IPV6, "1:2::192.168.0.1"),
    Y(IPV6, "::ffff:1.2.3.4"),
    Y(IPV6, "::1.2.3.4"),
    Y(IPV6, "1000:1000:1000:1000:1000:1000:255.255.255.255"),
    N(IPV6, "1::2::3"),
    N(IPV6, "12345::"),
    N(IPV6, "::abcef"),
    N(IPV6, "1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1"),
    N(IPV6, "1:2:3:4:5:6:7:8:9"),
    N(IPV6, "1:2:3:4:5:6:7:8::"),
    N(IPV6, "::1:2:3:4:5:6:7:8"),
    N(IPV6, "::laptop"),
    N(IPV6, ":2:3:4:5:6:7:8"),
    N(IPV6, "1:2:3:4:5:6:7:"),
    N(IPV6, ":2:3:4::8"),
    N(IPV6, "1:2:3:4:5:::8"),
    N(IPV6, ":::"),
    N(IPV6, "1:2:3:4:5:6:7"),
    N(IPV6, "1"),
    N(IPV6, ":"),
    N(IPV6, "127.0.0.1"),
    N(IPV6, "1:2:3:4:1.2.3"),
    N(IPV6, "1::2:192.168.256.1"),
    N(IPV6, "1::2:192.168.ff.1"),
    N(IPV6, "::ffff:256.1.1.1"),
    N(IPV6, "::ffff:01.2.3.4"),
    N(IPV6, "1.2.3.4::"),
    N(IPV6, "::1.2.3.4:1"),
    N(IPV6, "100:100:100:100:100:100:255.255.255.255.255"),
    N(IPV6, "100:100:100:100:100:100:100:255.255.255.255"),
    N(IPV6, "  ::1"),
    N(IPV6, "::1  "),
    N(IPV6, "fe80::/64"),
    N(IPV6, "fe80::a%eth1"),
    N(IPV6, "1:2:3:4:5:6:7:\xe0\xa7\xaa"),
    N(IPV6, ""),

    /* hostname */
    Y(HOSTNAME, "www.example.com"),
    Y(HOSTNAME, "xn--4gbwdl.xn--wgbh1c"),
    Y(HOSTNAME, "hostname"),
    Y(HOSTNAME, "host-name"),
    Y(HOSTNAME, "h0stn4me"),
    Y(HOSTNAME, "1host"),
    Y(HOSTNAME, "hostnam3"),
    Y(HOSTNAME, "a"),
    Y(HOSTNAME, "a.b.c"),
    Y(HOSTNAME, "c--n.com"),
    Y(HOSTNAME, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.com"),  /* 63 */
    N(HOSTNAME, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl.com"), /* 64 */
    N(HOSTNAME, "a.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"),
    N(HOSTNAME, "-a-host-name-that-starts-with--"),
    N(HOSTNAME, "not_a_valid_host_name"),
    N(HOSTNAME, "-hostname"),
    N(HOSTNAME, "hostname-"),
    N(HOSTNAME, "a-.b"),
    N(HOSTNAME, "a.-b"),
    N(HOSTNAME, "_hostname"),
    N(HOSTNAME, "host_name"),
    N(HOSTNAME, "a..b"),
    N(HOSTNAME, ".a"),
    N(HOSTNAME, "a."),
    N(HOSTNAME, "."),
    N(HOSTNAME, "host name"),
    N(HOSTNAME, "h\xc3\xb6st"),
    N(HOSTNAME, "[::1]"),
    N(HOSTNAME, ""),
    /* hostname: A-labels are decoded and checked as IDNA2008 U-labels */
    Y(HOSTNAME, "xn--ihqwcrb4cv8a8dqg056pqjye"),
    Y(HOSTNAME, "xn--9n2bp8q.xn--9t4b11yi5a"),
    Y(HOSTNAME, "XN--MNCHEN-3YA.de"),
    Y(HOSTNAME, "xn--ll-0ea"),
    N(HOSTNAME, "xn--X"),
    N(HOSTNAME, "XN--aa---o47jg78q"),
    N(HOSTNAME, "xn--07jt112bpxg.xn--9t4b11yi5a"),
    N(HOSTNAME, "xn--hello-txk"),
    N(HOSTNAME, "xn--al-0ea"),
    N(HOSTNAME, "xn--abc-"),
    N(HOSTNAME, "xn--"),
    N(HOSTNAME, "example\xef\xbc\x8e"
                "com"),
    /* idn-hostname */
    Y(IDN_HOSTNAME, "\xec\x8b\xa4\xeb\xa1\x80.\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8"),
    Y(IDN_HOSTNAME, "m\xc3\xbcnchen.de"),
    Y(IDN_HOSTNAME, "xn--mnchen-3ya.de"),
    Y(IDN_HOSTNAME, "a\xe3\x80\x82"
                    "b"),
    Y(IDN_HOSTNAME, "a\xef\xbc\x8e"
                    "b"),
    Y(IDN_HOSTNAME, "a\xef\xbd\xa1"
                    "b"),
    Y(IDN_HOSTNAME, "hostname"),
    Y(IDN_HOSTNAME, "1host"),
    N(IDN_HOSTNAME, "\xe3\x80\xae\xec\x8b\xa4\xeb\xa1\x80.\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8"),
    N(IDN_HOSTNAME, "-> $1.00 <--"),
    N(IDN_HOSTNAME, "M\xc3\xbcnchen.de"), /* no UTS #46 mapping: 'M' is DISALLOWED in a U-label */
    N(IDN_HOSTNAME, "\xe3\x80\x82"),
    N(IDN_HOSTNAME, "example\xe3\x80\x82"),
    N(IDN_HOSTNAME, "\xef\xbd\xa1"
                    "example"),
    N(IDN_HOSTNAME, "a\xc3"),         /* truncated UTF-8 */
    N(IDN_HOSTNAME, "a\xed\xa0\x80"), /* a surrogate */
    N(IDN_HOSTNAME, "a\xc0\xaf"),     /* overlong */
    N(IDN_HOSTNAME, ""),
    /* idn-email */
    Y(IDN_EMAIL,
      "\xec\x8b\xa4\xeb\xa1\x80@\xec\x8b\xa4\xeb\xa1\x80.\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8"),
    Y(IDN_EMAIL, "joe.bloggs@example.com"),
    Y(IDN_EMAIL, "\"j\xc3\xb6"
                 "e\"@m\xc3\xbcnchen.de"),
    Y(IDN_EMAIL, "j\xc3\xb6rg@xn--mnchen-3ya.de"),
    N(IDN_EMAIL, "2962"),
    N(IDN_EMAIL, "a\xc3@example.com"),
    N(IDN_EMAIL, "a\xc2\x85@example.com"), /* a C1 control */
    N(IDN_EMAIL, "a@\xe3\x80\xae"
                 "b.com"),
    N(IDN_EMAIL, "a@xn--X"),
    /* duration */
    Y(DURATION, "P4DT12H30M5S"),
    Y(DURATION, "P4Y"),
    Y(DURATION, "P1Y2D"),
    Y(DURATION, "PT0S"),
    Y(DURATION, "PT36H"),
    Y(DURATION, "P2W"),
    Y(DURATION, "P1M"),
    Y(DURATION, "PT1M"),
    N(DURATION, "P"),
    N(DURATION, "PT"),
    N(DURATION, "P1YT"),
    N(DURATION, "P2D1Y"),
    N(DURATION, "P1D2H"),
    N(DURATION, "P2S"),
    N(DURATION, "PT1D"),
    N(DURATION, "P1Y2W"),
    N(DURATION, "P1"),
    N(DURATION, "P\xe0\xa7\xa8Y"),
    N(DURATION, "p1d"),
    N(DURATION, "P1DT1H1H"),
    /* uri-reference, iri, iri-reference */
    Y(URI_REFERENCE, "http://foo.bar/?baz=qux#quux"),
    Y(URI_REFERENCE, "/abc"),
    Y(URI_REFERENCE, "abc"),
    Y(URI_REFERENCE, "#fragment"),
    Y(URI_REFERENCE, "//host:80/p"),
    Y(URI_REFERENCE, "./a:b"),
    N(URI_REFERENCE, "\\\\WINDOWS\\fileshare"),
    N(URI_REFERENCE, "#frag\\ment"),
    N(URI_REFERENCE, "a:b:c d"),
    N(URI_REFERENCE, "1a:b"),
    N(URI_REFERENCE, "/caf\xc3\xa9"),
    Y(IRI, "http://\xc6\x92\xc3\xb8\xc7\xab.\xc3\x9f\xc3\xa5r/"
           "?\xe2\x88\x82\xc3\xa9\xc5\x93=\xcf\x80\xc3\xae\xc3\xb8#\xe2\x88\x82\xc3\xa9"),
    Y(IRI, "http://[2001:db8::1]/"),
    Y(IRI, "urn:isbn:0451450523"),
    N(IRI, "http://2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    N(IRI, "/abc"),
    N(IRI, "\\\\WINDOWS\\fil\xc3\xab\xc3\x9f\xc3\xa5r\xc3\xa9"),
    N(IRI, "\xc3\xa2\xcf\x80\xcf\x80"),
    N(IRI, "http://a/\xc2\x85"),
    N(IRI, "http://a/\xff"),
    Y(IRI_REFERENCE, "\xc3\xa2\xcf\x80\xcf\x80"),
    Y(IRI_REFERENCE, "/\xc3\xa2\xcf\x80\xcf\x80"),
    Y(IRI_REFERENCE, "#\xc6\x92r\xc3\xa4g"),
    N(IRI_REFERENCE, "\\\\WINDOWS\\fil\xc3\xab\xc3\x9f\xc3\xa5r\xc3\xa9"),
    N(IRI_REFERENCE, "#\xc6\x92r\xc3\xa4\\g"),
    /* uri-template */
    Y(URI_TEMPLATE, "http://example.com/dictionary/{term:1}/{term}"),
    Y(URI_TEMPLATE, "dictionary/{term:1}/{term}"),
    Y(URI_TEMPLATE, "http://example.com/dictionary"),
    Y(URI_TEMPLATE, "{+path}/x{?a,b*,c.d}{#frag}"),
    Y(URI_TEMPLATE, "/%E2%82%AC/{x:9999}"),
    N(URI_TEMPLATE, "http://example.com/dictionary/{term:1}/{term"),
    N(URI_TEMPLATE, "{}"),
    N(URI_TEMPLATE, "{a:0}"),
    N(URI_TEMPLATE, "{a:10000}"),
    N(URI_TEMPLATE, "{a..b}"),
    N(URI_TEMPLATE, "{a.}"),
    N(URI_TEMPLATE, "a}b"),
    N(URI_TEMPLATE, "a b"),
    N(URI_TEMPLATE, "%zz"),
    /* json-pointer, relative-json-pointer */
    Y(JSON_POINTER, "/foo/bar~0/baz~1/%a"),
    Y(JSON_POINTER, "/"),
    Y(JSON_POINTER, "/foo//bar"),
    Y(JSON_POINTER, "/~0~1"),
    N(JSON_POINTER, "/foo/bar~"),
    N(JSON_POINTER, "#"),
    N(JSON_POINTER, "#/a"),
    N(JSON_POINTER, "/~2"),
    N(JSON_POINTER, "a/b"),
    Y(RELATIVE_JSON_POINTER, "1"),
    Y(RELATIVE_JSON_POINTER, "0/foo/bar"),
    Y(RELATIVE_JSON_POINTER, "2/0/baz/1/zip"),
    Y(RELATIVE_JSON_POINTER, "0#"),
    Y(RELATIVE_JSON_POINTER, "120/foo/bar"),
    Y(RELATIVE_JSON_POINTER, "1+2/a"),
    Y(RELATIVE_JSON_POINTER, "0-1#"),
    N(RELATIVE_JSON_POINTER, "/foo/bar"),
    N(RELATIVE_JSON_POINTER, "-1/foo/bar"),
    N(RELATIVE_JSON_POINTER, "+1/foo/bar"),
    N(RELATIVE_JSON_POINTER, "0##"),
    N(RELATIVE_JSON_POINTER, "01/a"),
    N(RELATIVE_JSON_POINTER, "01#"),
    N(RELATIVE_JSON_POINTER, "1+0/a"),
    N(RELATIVE_JSON_POINTER, "1+/a"),
    N(RELATIVE_JSON_POINTER, "0/a~"),
    /* regex */
    Y(REGEX, "([abc])+\\s+$"),
    Y(REGEX, "^(?:a|b)*?c{2,3}(?=d)(?<name>e)\\k<name>(?<!f)[\\]x]$"),
    Y(REGEX, "a{,5}"),
    Y(REGEX, "a??b+?"),
    N(REGEX, "^(abc]"),
    N(REGEX, "(a"),
    N(REGEX, "a)"),
    N(REGEX, "*a"),
    N(REGEX, "a**"),
    N(REGEX, "a|+"),
    N(REGEX, "a{3,2}"),
    N(REGEX, "[a"),
    N(REGEX, "a\\"),
    N(REGEX, "(?x)"),
    N(REGEX, "(?<1a>x)"),
    N(REGEX, "(?<=a)*"),
};

/* Checks one case from an exactly-sized heap copy, so ASan sees any read past n. */
static void check_case(const format_case *c)
{
    size_t n = strlen(c->s);
    char *copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, c->s, n);
    bool got = format_check(c->f, copy, n);
    free(copy);
    if (got != c->ok)
        fprintf(stderr, "  %s \"%s\": got %s, expected %s\n", format_name(c->f), c->s,
                got ? "valid" : "invalid", c->ok ? "valid" : "invalid");
    CHECK(got == c->ok);
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
    /* every format has at least one valid and one invalid case */
    for (int f = 0; f < FORMAT__COUNT; f++) {
        int yes = 0, no = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if ((int)cases[i].f == f) cases[i].ok ? yes++ : no++;
        CHECK(yes > 0 && no > 0);
    }
}

static void test_names(void)
{
    for (int f = 0; f < FORMAT__COUNT; f++)
        CHECK_INT(format_lookup(format_name((format_id)f)), f);
    CHECK_INT(format_lookup("date-time"), FORMAT_DATE_TIME);
    CHECK_INT(format_lookup("hostname"), FORMAT_HOSTNAME);
    CHECK_STR(format_name(FORMAT_DATE), "date");
    CHECK_STR(format_name(FORMAT_IPV6), "ipv6");
    CHECK_STR(format_name(FORMAT_URI), "uri");
    CHECK_INT(format_lookup("regex"), FORMAT_REGEX);
    CHECK_INT(format_lookup("idn-email"), FORMAT_IDN_EMAIL);
    CHECK_INT(format_lookup("uri-reference"), FORMAT_URI_REFERENCE);
    CHECK_INT(format_lookup("int64"), -1);
    CHECK_INT(format_lookup("Date-Time"), -1);
    CHECK_INT(format_lookup("date-time "), -1);
    CHECK_INT(format_lookup(""), -1);
    CHECK_INT(format_lookup(NULL), -1);
    CHECK(format_name(FORMAT__COUNT) != NULL);
    CHECK_INT(format_lookup(format_name(FORMAT__COUNT)), -1);
    CHECK(!format_check(FORMAT__COUNT, "x", 1));
    CHECK(!format_check((format_id)-1, "x", 1));
}

/* Exhaustive leap-second rule: with offset +hh:mm, ss=60 is valid only at 23:59 UTC. */
static void test_leap_second_sweep(void)
{
    int valid = 0, wrong = 0;
    for (int h = 0; h < 24; h++)
        for (int m = 0; m < 60; m++)
            for (int off = -(23 * 60 + 59); off <= 23 * 60 + 59; off += 30) {
                char buf[32];
                int a = off < 0 ? -off : off;
                snprintf(buf, sizeof buf, "%02d:%02d:60%c%02d:%02d", h, m, off < 0 ? '-' : '+',
                         a / 60, a % 60);
                int utc = ((h * 60 + m - off) % 1440 + 1440) % 1440;
                bool want = utc == 23 * 60 + 59;
                bool got = format_check(FORMAT_TIME, buf, strlen(buf));
                if (got) valid++;
                if (got != want) wrong++;
            }
    CHECK_INT(wrong, 0);
    CHECK(valid > 0);
}

/* Every day of years 1999..2025 (incl. 2000, 2024 leap years) is valid; day 0 and day+1 not. */
static void test_calendar_sweep(void)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int wrong = 0;
    for (int y = 1999; y <= 2025; y++)
        for (int m = 1; m <= 12; m++) {
            bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            int last = mdays[m - 1] + (m == 2 && leap);
            for (int d = 0; d <= 32; d++) {
                char buf[16];
                snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
                bool want = d >= 1 && d <= last;
                if (format_check(FORMAT_DATE, buf, 10) != want) wrong++;
            }
        }
    CHECK_INT(wrong, 0);
}

/* A valid value followed by garbage, n = the valid length: only s[0..n) counts. */
static void test_bounded_by_n(void)
{
    static const struct {
        format_id f;
        const char *valid;
    } v[] = {
        {FORMAT_DATE_TIME, "2024-02-29T23:59:60Z"},
        {FORMAT_DATE, "2024-02-29"},
        {FORMAT_TIME, "23:59:59.5+01:00"},
        {FORMAT_TIME, "12:00:00.123z"},
        {FORMAT_EMAIL, "a.b@example.com"},
        {FORMAT_EMAIL, "\"q\"@[IPv6:::1]"},
        {FORMAT_URI, "http://example.com/a?b#c"},
        {FORMAT_URI, "http://[::1]:80"},
        {FORMAT_UUID, "2eb8aa08-aa98-11ea-b4aa-73b441d16380"},
        {FORMAT_IPV4, "1.2.3.4"},
        {FORMAT_IPV6, "::ffff:1.2.3.4"},
        {FORMAT_IPV6, "1::"},
        {FORMAT_HOSTNAME, "example.com"},
    };
    static const char *const garbage[] = {"1", ":", ".", "%", "@x", " junk", "\xff", "Z", "-"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].valid);
        for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
            char buf[128];
            size_t gn = strlen(garbage[g]);
            memcpy(buf, v[i].valid, n);
            memcpy(buf + n, garbage[g], gn);
            CHECK(format_check(v[i].f, buf, n));
            /* and the whole buffer (valid + garbage) must not pass where garbage can't fit */
            if (garbage[g][0] == ' ' || garbage[g][0] == '\xff')
                CHECK(!format_check(v[i].f, buf, n + gn));
        }
        /* A valid prefix in an exactly-sized heap buffer, with n cutting it short: every shorter
         * n runs without reading past n (ASan) and, for fixed-width formats, fails. */
        char *heap = malloc(n);
        if (!heap) abort();
        memcpy(heap, v[i].valid, n);
        for (size_t k = 0; k < n; k++) {
            char *tail = malloc(k ? k : 1); /* exactly k bytes: over-reads trap under ASan */
            if (!tail) abort();
            memcpy(tail, heap, k);
            bool ok = format_check(v[i].f, tail, k);
            if (v[i].f == FORMAT_DATE || v[i].f == FORMAT_UUID || v[i].f == FORMAT_DATE_TIME ||
                v[i].f == FORMAT_IPV4)
                CHECK(!ok);
            free(tail);
        }
        free(heap);
    }
    /* Truncation that makes a valid-looking value invalid. */
    CHECK(!format_check(FORMAT_TIME, "12:00:00+01:00", 13));
    CHECK(!format_check(FORMAT_TIME, "12:00:00.5Z", 10));
    CHECK(!format_check(FORMAT_EMAIL, "\"ab\"@x.org", 3));
    CHECK(!format_check(FORMAT_URI, "http://x/%41", 11));
    CHECK(!format_check(FORMAT_IPV6, "1:2:3:4:5:6:7:8", 14));
    CHECK(format_check(FORMAT_IPV6, "1:2:3:4:5:6:7:8", 15));
    CHECK(!format_check(FORMAT_HOSTNAME, "ab-c", 3));
    CHECK(format_check(FORMAT_HOSTNAME, "ab-c", 2));
    /* An embedded NUL is just an invalid byte, not a terminator. */
    CHECK(!format_check(FORMAT_HOSTNAME, "a\0b", 3));
    CHECK(!format_check(FORMAT_EMAIL, "a@b\0", 4));
    CHECK(!format_check(FORMAT_URI, "a:\0", 3));
    CHECK(!format_check(FORMAT_EMAIL, "\"\0\"@b", 5));
    /* Empty and NULL input: valid only where the grammar allows the empty string. */
    for (int f = 0; f < FORMAT__COUNT; f++) {
        bool empty_ok = f == FORMAT_URI_REFERENCE || f == FORMAT_IRI_REFERENCE ||
                        f == FORMAT_JSON_POINTER || f == FORMAT_URI_TEMPLATE || f == FORMAT_REGEX;
        CHECK(format_check((format_id)f, "", 0) == empty_ok);
        CHECK(format_check((format_id)f, NULL, 0) == empty_ok);
    }
}

/* Hostname total length: 253 bytes pass, 254 fail. */
static void test_hostname_length(void)
{
    char buf[300];
    size_t n = 0;
    /* 4 labels of 63 separated by dots = 255; build 253 = 63+1+63+1+63+1+61 */
    const size_t labels[] = {63, 63, 63, 61};
    for (size_t l = 0; l < 4; l++) {
        if (l) buf[n++] = '.';
        memset(buf + n, 'a', labels[l]);
        n += labels[l];
    }
    CHECK_INT(n, 253);
    CHECK(format_check(FORMAT_HOSTNAME, buf, n));
    buf[n] = 'a';
    CHECK(!format_check(FORMAT_HOSTNAME, buf, n + 1));
    CHECK(format_check(FORMAT_EMAIL, "x@aaaa", 6));
}

/* Every byte in a URI's path, query and host, against RFC 3986's classes spelled out here: the
 * checker's byte sets must admit exactly these. */
static void test_uri_byte_sweep(void)
{
    const char *ok_base = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "-._~!$&'()*+,;=";
    for (int c = 1; c < 256; c++) {
        if (c == '%' || c == '#' || c == '?') continue; /* escapes and delimiters: own cases */
        bool base = strchr(ok_base, c) != NULL;
        char u[32];
        int n = snprintf(u, sizeof u, "http://a/x%cy", c);
        bool want = base || c == ':' || c == '@' || c == '/';
        if (format_check(FORMAT_URI, u, (size_t)n) != want) fprintf(stderr, "  path byte %d\n", c);
        CHECK(format_check(FORMAT_URI, u, (size_t)n) == want);
        n = snprintf(u, sizeof u, "http://a/?x%cy", c);
        if (format_check(FORMAT_URI, u, (size_t)n) != want) fprintf(stderr, "  query byte %d\n", c);
        CHECK(format_check(FORMAT_URI, u, (size_t)n) == want);
        if (c == ':' || c == '@' || c == '/' || c == '[' || c == ']') continue;
        n = snprintf(u, sizeof u, "http://a%cb/", c);
        if (format_check(FORMAT_URI, u, (size_t)n) != base) fprintf(stderr, "  host byte %d\n", c);
        CHECK(format_check(FORMAT_URI, u, (size_t)n) == base);
    }
}

/* ---- IDNA2008 (validator/idna.c): each rule with the reason it must give ------------------ */

typedef struct {
    unsigned flags;
    const char *s;
    int rc;
} idna_case;

#define U IDNA_UNICODE
static const idna_case idna_cases[] = {
    /* empty names and labels, separators */
    {U, "", IDNA_EEMPTY},
    {U, ".", IDNA_EEMPTY},
    {U, "a..b", IDNA_EEMPTY},
    {U,
     "\xe3\x80\x82"
     "a",
     IDNA_EEMPTY},
    {U, "a\xef\xbd\xa1", IDNA_EEMPTY},
    {0,
     "a\xe3\x80\x82"
     "b",
     IDNA_EASCII}, /* IDN dots only with IDNA_UNICODE */
    {U,
     "a\xe3\x80\x82"
     "b\xef\xbc\x8e"
     "c\xef\xbd\xa1"
     "d",
     0},
    /* NR-LDH labels */
    {0, "a_b", IDNA_ELDH},
    {0, "a b", IDNA_ELDH},
    {0, "-a", IDNA_EHYPHEN},
    {0, "a-", IDNA_EHYPHEN},
    {0, "ab--cd", 0}, /* R-LDH, not xn--: RFC 1123 allows it */
    {0, "m\xc3\xbcnchen", IDNA_EASCII},
    /* U-labels: hyphens */
    {U, "-\xc3\xa9", IDNA_EHYPHEN},
    {U, "\xc3\xa9-", IDNA_EHYPHEN},
    {U, "ab--\xc3\xa9", IDNA_EHYPHEN34},
    {U, "a-\xc3\xa9-b", 0},
    {U, "a--\xc3\xa9", 0}, /* "--" at 2-3 is fine */
    {0, "xn--ab---epa", IDNA_EHYPHEN34},
    {0, "XN--aa---o47jg78q", IDNA_EHYPHEN34},
    /* A-labels */
    {0, "xn--X", IDNA_EPUNYCODE},
    {0, "xn--99999999999", IDNA_EPUNYCODE}, /* delta overflows */
    {0, "xn--", IDNA_EHYPHEN},
    {0, "xn--abc-", IDNA_EHYPHEN}, /* (and would decode to ASCII only) */
    {0, "xn--mnchen-3ya", 0},
    {0, "Xn--MnChEn-3Ya", 0},
    {0, "xn--ihqwcrb4cv8a8dqg056pqjye", 0},
    {0, "xn--07jt112bpxg", IDNA_EDISALLOWED}, /* U+302E */
    {0, "xn--hello-zed", IDNA_EMARK},
    /* derived property: exceptions and categories */
    {U, "\xc3\x9f\xcf\x82\xe0\xbc\x8b\xe3\x80\x87", 0}, /* PVALID exceptions */
    {U, "\xdb\xbd\xdb\xbe", 0},                         /* U+06FD U+06FE */
    {U, "\xd9\x80\xdf\xba", IDNA_EDISALLOWED},          /* U+0640 U+07FA */
    {U, "a\xe3\x80\xb1", IDNA_EDISALLOWED},             /* U+3031 */
    {U, "M\xc3\xbcnchen", IDNA_EDISALLOWED},            /* upper case is unstable */
    {U,
     "a\xe2\x80\x8b"
     "b",
     IDNA_EDISALLOWED}, /* ZERO WIDTH SPACE */
    {U,
     "a\xc2\xa0"
     "b",
     IDNA_EDISALLOWED},                                /* NO-BREAK SPACE */
    {U, "\xe1\x84\x80\xe1\x85\xa1", IDNA_EDISALLOWED}, /* old Hangul jamo */
    {U, "\xf0\x9d\x85\x9e", IDNA_EDISALLOWED},         /* a musical symbol */
    {U, "a\xcd\xb8", IDNA_EDISALLOWED},                /* U+0378 unassigned */
    {U, "\xef\xb7\x90", IDNA_EDISALLOWED},             /* U+FDD0 noncharacter */
    {U, "\xf0\x9f\x98\x80", IDNA_EDISALLOWED},         /* an emoji */
    {U, "\xcc\x80hello", IDNA_EMARK},                  /* U+0300 */
    {U, "\xe0\xa4\x83hello", IDNA_EMARK},              /* U+0903 */
    {U, "a\xcc\x80", 0},                               /* a mark after a letter */
    /* CONTEXTJ: ZWJ and ZWNJ */
    {U, "\xe0\xa4\x95\xe2\x80\x8d\xe0\xa4\xb7", IDNA_ECONTEXTJ}, /* ZWJ, no virama */
    {U, "\xe2\x80\x8d\xe0\xa4\xb7", IDNA_ECONTEXTJ},             /* ZWJ first */
    {U, "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7", 0},  /* ZWJ after virama */
    {U, "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8c\xe0\xa4\xb7", 0},  /* ZWNJ after virama */
    {U, "\xd8\xa8\xd9\x8a\xe2\x80\x8c\xd8\xa8\xd9\x8a", 0},      /* ZWNJ D..D */
    {U, "\xd8\xa8\xd9\x8b\xe2\x80\x8c\xd8\xa8", 0},              /* D T ZWNJ D */
    {U, "\xd8\xa8\xe2\x80\x8c\xd9\x8b\xd8\xa7", 0},              /* D ZWNJ T R */
    {U, "\xd8\xa8\xe2\x80\x8c", IDNA_ECONTEXTJ},                 /* nothing after */
    {U, "\xd8\xa7\xe2\x80\x8c\xd8\xa8", IDNA_ECONTEXTJ},         /* R before */
    {U, "\xe2\x80\x8c\xd8\xa8", IDNA_ECONTEXTJ},                 /* nothing before */
    {U,
     "ab\xe2\x80\x8c"
     "c",
     IDNA_ECONTEXTJ},                                /* non-joining */
    {U, "\xe0\xa4\x95\xe2\x80\x8c", IDNA_ECONTEXTJ}, /* no virama */
    /* CONTEXTO */
    {U, "l\xc2\xb7l", 0},
    {U, "a\xc2\xb7l", IDNA_ECONTEXTO},
    {U, "\xc2\xb7l", IDNA_ECONTEXTO},
    {U,
     "l\xc2\xb7"
     "a",
     IDNA_ECONTEXTO},
    {U, "l\xc2\xb7", IDNA_ECONTEXTO},
    {U, "\xce\xb1\xcd\xb5\xce\xb2", 0}, /* KERAIA + Greek */
    {U, "\xce\xb1\xcd\xb5S", IDNA_ECONTEXTO},
    {U, "\xce\xb1\xcd\xb5", IDNA_ECONTEXTO},
    {U, "\xd7\x90\xd7\xb3\xd7\x91", 0}, /* GERESH after Hebrew */
    {U, "a\xd7\xb3\xd7\x91", IDNA_ECONTEXTO},
    {U, "A\xd7\xb3\xd7\x91", IDNA_EDISALLOWED},
    {U, "\xd7\xb3\xd7\x91", IDNA_ECONTEXTO},
    {U, "\xd7\x90\xd7\xb4\xd7\x91", 0}, /* GERSHAYIM */
    {U, "\xd7\xb4\xd7\x91", IDNA_ECONTEXTO},
    {U, "\xe3\x83\xbb\xe3\x81\x81", 0}, /* KATAKANA MIDDLE DOT */
    {U, "\xe3\x83\xbb\xe3\x82\xa1", 0},
    {U, "\xe3\x83\xbb\xe4\xb8\x88", 0},
    {U,
     "def\xe3\x83\xbb"
     "abc",
     IDNA_ECONTEXTO},
    {U, "\xe3\x83\xbb", IDNA_ECONTEXTO},
    {U, "\xd8\xa8\xd9\xa0\xd8\xa8", 0}, /* Arabic-Indic digits */
    {U,
     "\xdb\xb0"
     "0",
     0},                                             /* extended */
    {U, "\xd8\xa8\xd9\xa0\xdb\xb0", IDNA_ECONTEXTO}, /* mixed */
    {U, "\xdb\xb0\xd8\xa8\xd9\xa9", IDNA_ECONTEXTO},
    /* Bidi Rule (RFC 5893), across the whole name when a label is RTL */
    {U, "\xd7\x90.com", 0},
    {U,
     "\xd7\x90"
     "1",
     0},                        /* R EN */
    {U, "\xd7\x90\xcc\x80", 0}, /* R NSM */
    {U,
     "\xd7\x90"
     "a",
     IDNA_EBIDI},                     /* L in an RTL label */
    {U, "a\xd7\x90", IDNA_EBIDI},     /* R in an LTR label */
    {U, "1\xd7\x90", IDNA_EBIDI},     /* first neither L, R nor AL */
    {U, "\xd7\x90.1com", IDNA_EBIDI}, /* rule 1 on the other label */
    {0, "xn--4db.1com", IDNA_EBIDI},
    {U, "\xd9\xa0\xd8\xa8", IDNA_EBIDI}, /* AN first */
    {U,
     "\xd8\xa8\xd9\xa0"
     "1",
     IDNA_EBIDI},            /* AN and EN together */
    {U, "1host.example", 0}, /* no RTL label: no rule */
    {U,
     "\xdb\xb0"
     "0.com",
     0},
};
#undef U

static void test_idna_reasons(void)
{
    for (size_t i = 0; i < sizeof idna_cases / sizeof idna_cases[0]; i++) {
        const idna_case *c = &idna_cases[i];
        size_t n = strlen(c->s);
        char *copy = malloc(n ? n : 1);
        if (!copy) abort();
        memcpy(copy, c->s, n);
        int rc = idna_check_name(copy, n, c->flags);
        free(copy);
        if (rc != c->rc)
            fprintf(stderr, "  idna \"%s\" (flags %u): got %d (%s), expected %d (%s)\n", c->s,
                    c->flags, rc, idna_strerror(rc), c->rc, idna_strerror(c->rc));
        CHECK_INT(rc, c->rc);
    }
    CHECK_STR(idna_strerror(0), "ok");
    CHECK_STR(idna_strerror(IDNA_EBIDI), "the Bidi Rule (RFC 5893) fails");
    CHECK(idna_strerror(-999) != NULL);
}

/* Fills buf with a name of labels of the given octet lengths ("a" * len), '.'-separated. */
static size_t make_name(char *buf, const size_t *labels, size_t nl)
{
    size_t n = 0;
    for (size_t l = 0; l < nl; l++) {
        if (l) buf[n++] = '.';
        memset(buf + n, 'a', labels[l]);
        n += labels[l];
    }
    return n;
}

/* Label 63 / name 253 octets, counted in A-label form for U-labels. */
static void test_idna_lengths(void)
{
    char buf[600];
    const size_t ok[] = {63, 63, 63, 61}, long_name[] = {63, 63, 63, 62}, long_label[] = {64};
    CHECK_INT(idna_check_name(buf, make_name(buf, ok, 4), 0), 0);
    CHECK_INT(idna_check_name(buf, make_name(buf, long_name, 4), 0), IDNA_ETOOLONG);
    CHECK_INT(idna_check_name(buf, make_name(buf, long_label, 1), 0), IDNA_ETOOLONG);
    /* U+00E9 x N encodes as "xn--9ca" + "a" x (N - 1): 59 code points -> 65 octets */
    size_t n = 0;
    for (int i = 0; i < 56; i++)
        buf[n++] = '\xc3', buf[n++] = '\xa9';
    CHECK_INT(idna_check_name(buf, n, IDNA_UNICODE), 0); /* xn--9ca + 55 = 62 octets */
    buf[n++] = '\xc3', buf[n++] = '\xa9';
    CHECK_INT(idna_check_name(buf, n, IDNA_UNICODE), 0); /* 63 octets */
    buf[n++] = '\xc3', buf[n++] = '\xa9';
    CHECK_INT(idna_check_name(buf, n, IDNA_UNICODE), IDNA_ETOOLONG); /* 64 */
    /* 70 code points of Greek: 140 UTF-8 octets, an A-label of 80 */
    n = 0;
    for (int i = 0; i < 70; i++)
        buf[n++] = '\xce', buf[n++] = '\xb1';
    CHECK_INT(idna_check_name(buf, n, IDNA_UNICODE), IDNA_ETOOLONG);
    /* the name limit counts A-label octets too: 3 x 63 + 1 + 3 dots + a 60-octet U-label */
    const size_t three[] = {63, 63, 63};
    n = make_name(buf, three, 3);
    buf[n++] = '.';
    for (int i = 0; i < 54; i++) /* xn--9ca + 53 = 60 octets: 252 in all */
        buf[n++] = '\xc3', buf[n++] = '\xa9';
    CHECK_INT(idna_check_name(buf, n, IDNA_UNICODE), 0);
    buf[n++] = '\xc3', buf[n++] = '\xa9';
    buf[n++] = '\xc3', buf[n++] = '\xa9'; /* 254 */
    CHECK_INT(idna_check_name(buf, n, IDNA_UNICODE), IDNA_ETOOLONG);
}

/* RFC 3492 section 7.1 samples and the decoder's edge cases. */
static void test_punycode(void)
{
    static const uint32_t chinese[] = {0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48,
                                       0x4E0D, 0x8BF4, 0x4E2D, 0x6587};
    static const uint32_t japanese[] = {0x33, 0x5E74, 0x42, 0x7D44, 0x91D1, 0x516B, 0x5148, 0x751F};
    static const struct {
        const char *enc;
        const uint32_t *cp;
        size_t n;
    } samples[] = {
        {"ihqwcrb4cv8a8dqg056pqjye", chinese, 9},  /* (B) Chinese (simplified) */
        {"3B-ww4c5e180e575a65lsy2b", japanese, 8}, /* (L) 3<nen>B<gumi><kinpachi><sensei> */
    };
    uint32_t out[64];
    char enc[64];
    size_t n;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        size_t len = strlen(samples[i].enc);
        CHECK_INT(idna_punycode_decode(samples[i].enc, len, out, 64, &n), 0);
        CHECK_INT(n, samples[i].n);
        CHECK(n == samples[i].n && !memcmp(out, samples[i].cp, n * sizeof out[0]));
        CHECK_INT(idna_punycode_encode(samples[i].cp, samples[i].n, enc, sizeof enc, &n), 0);
        CHECK(n == len && !memcmp(enc, samples[i].enc, n));
        /* too small an output fails cleanly, both ways */
        CHECK_INT(idna_punycode_decode(samples[i].enc, len, out, samples[i].n - 1, &n),
                  IDNA_ETOOLONG);
        CHECK_INT(idna_punycode_encode(samples[i].cp, samples[i].n, enc, len - 1, &n),
                  IDNA_ETOOLONG);
    }
    /* digits are case-insensitive */
    CHECK_INT(idna_punycode_decode("IHQWCRB4CV8A8DQG056PQJYE", 24, out, 64, &n), 0);
    CHECK(n == 9 && !memcmp(out, chinese, sizeof chinese));
    /* empty, basic only, a lone delimiter */
    CHECK_INT(idna_punycode_decode("", 0, out, 64, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(idna_punycode_decode("abc-", 4, out, 64, &n), 0);
    CHECK(n == 3 && out[0] == 'a' && out[2] == 'c');
    CHECK_INT(idna_punycode_decode("-", 1, out, 64, &n), IDNA_EPUNYCODE);
    CHECK_INT(idna_punycode_decode("-abc", 4, out, 64, &n), IDNA_EPUNYCODE);
    /* bad digit, truncated integer, overflow, past U+10FFFF, non-basic before the delimiter */
    CHECK_INT(idna_punycode_decode("a!", 2, out, 64, &n), IDNA_EPUNYCODE);
    CHECK_INT(idna_punycode_decode("X", 1, out, 64, &n), IDNA_EPUNYCODE);
    CHECK_INT(idna_punycode_decode("99999999999", 11, out, 64, &n), IDNA_EPUNYCODE);
    CHECK_INT(idna_punycode_decode("zzzzzzzzzzzzzzzzzzzzz", 21, out, 64, &n), IDNA_EPUNYCODE);
    CHECK_INT(idna_punycode_decode("\xc3\xa9-a", 4, out, 64, &n), IDNA_EPUNYCODE);
    uint32_t big = 0x110000;
    CHECK_INT(idna_punycode_encode(&big, 1, enc, sizeof enc, &n), IDNA_EPUNYCODE);
    /* every BMP scalar value round-trips alone and after a basic code point */
    int wrong = 0;
    for (uint32_t c = 0x80; c < 0x10000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        uint32_t in[2] = {'a', c};
        for (size_t k = 1; k <= 2; k++) {
            const uint32_t *src = k == 1 ? in + 1 : in;
            size_t m;
            if (idna_punycode_encode(src, k, enc, sizeof enc, &m) < 0 ||
                idna_punycode_decode(enc, m, out, 64, &m) < 0 || m != k ||
                memcmp(out, src, k * sizeof out[0]))
                wrong++;
        }
    }
    CHECK_INT(wrong, 0);
}

/* Strict UTF-8: overlongs, surrogates, values past U+10FFFF and truncation are invalid. */
static void test_utf8(void)
{
    uint32_t cp;
    CHECK(idna_utf8_decode("\xc3\xa9", 2, &cp) == 2 && cp == 0xE9);
    CHECK(idna_utf8_decode("\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600);
    CHECK(idna_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp) == 4 && cp == 0x10FFFF);
    CHECK_INT(idna_utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0);
    CHECK_INT(idna_utf8_decode("\xc0\xaf", 2, &cp), 0);
    CHECK_INT(idna_utf8_decode("\xe0\x80\xaf", 3, &cp), 0);
    CHECK_INT(idna_utf8_decode("\xed\xa0\x80", 3, &cp), 0);
    CHECK_INT(idna_utf8_decode("\xc3", 1, &cp), 0);
    CHECK_INT(idna_utf8_decode("\xe2\x82", 2, &cp), 0);
    CHECK_INT(idna_utf8_decode("\x80", 1, &cp), 0);
    CHECK_INT(idna_utf8_decode("", 0, &cp), 0);
}

/* Spot checks of the generated derived-property table. */
static void test_idna_property(void)
{
    CHECK_INT(idna_property('a'), IDNA_PVALID);
    CHECK_INT(idna_property('-'), IDNA_PVALID);
    CHECK_INT(idna_property('A'), IDNA_DISALLOWED);
    CHECK_INT(idna_property('.'), IDNA_DISALLOWED);
    CHECK_INT(idna_property(0x00DF), IDNA_PVALID);
    CHECK_INT(idna_property(0x00B7), IDNA_CONTEXTO);
    CHECK_INT(idna_property(0x200C), IDNA_CONTEXTJ);
    CHECK_INT(idna_property(0x200D), IDNA_CONTEXTJ);
    CHECK_INT(idna_property(0x0669), IDNA_CONTEXTO);
    CHECK_INT(idna_property(0x0640), IDNA_DISALLOWED);
    CHECK_INT(idna_property(0x4E00), IDNA_PVALID);
    CHECK_INT(idna_property(0xAC00), IDNA_PVALID);
    CHECK_INT(idna_property(0x1100), IDNA_DISALLOWED);
    CHECK_INT(idna_property(0x31350), IDNA_PVALID); /* CJK Extension H, new in Unicode 15 */
    CHECK_INT(idna_property(0x10FFFF), IDNA_DISALLOWED);
    CHECK_INT(idna_property(0x110000), IDNA_DISALLOWED);
}

int main(void)
{
    test_idna_reasons();
    test_idna_lengths();
    test_punycode();
    test_utf8();
    test_idna_property();
    test_uri_byte_sweep();
    test_table();
    test_names();
    test_leap_second_sweep();
    test_calendar_sweep();
    test_bounded_by_n();
    test_hostname_length();
    return check_done();
}
