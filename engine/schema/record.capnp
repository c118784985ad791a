# On-disk and on-wire encoding of log records. Changing a field's number or type is a
# format break: add fields, never renumber.
@0xb4c1f0a6d2e83a51;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("segflow::schema");

struct Value {
  union {
    null @0 :Void;
    bool @1 :Bool;
    int @2 :Int64;
    float @3 :Float64;
    text @4 :Text;
    array @5 :List(Value);
    object @6 :List(Field);
  }
}

struct Field {
  name @0 :Text;
  value @1 :Value;
}

# One record: an input event, a changelog entry or a late record.
struct Record {
  ts @0 :Int64;        # event time, epoch ms (changelog: `at`)
  key @1 :Text;        # the user id
  event @2 :Text;      # event type (changelog: "entered" | "exited")
  props @3 :List(Field);  # properties (changelog: segment)
}

# A batch on disk: records with consecutive offsets from baseOffset.
struct RecordBatch {
  baseOffset @0 :UInt64;
  records @1 :List(Record);
}
