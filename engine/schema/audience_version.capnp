# A frozen audience version (issue 6 item 2): the members of one segment's version as the
# job's audience store held them when that version stopped serving, in
#   <audience dir>.versions/<segment>@<version>
# written atomically (engine/state/message_file.h: CRC32C-checked). Add fields, never
# renumber; `formatVersion` changes refuse old readers with a clear error.
@0xb5bb5683cd3a98c5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("segflow::schema");

const audienceVersionFormatVersion :UInt32 = 1;

struct FrozenAudienceVersion {
  formatVersion @0 :UInt32;
  job @1 :Text;                  # the job whose store it was frozen from
  segment @2 :Text;
  version @3 :Text;              # 16 hex digits (jobs/segment_version.h)
  hasEvaluated @4 :Bool;
  evaluatedThrough @5 :Int64;    # the store's evaluated time when frozen (ms)
  frozenAtMs @6 :Int64;          # wall-clock time of the freeze
  memberCount @7 :UInt64;        # = members' length, checked on read
  members @8 :List(Data);        # user ids, sorted (Data: any bytes a user id may hold)
}
