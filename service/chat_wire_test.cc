// chat_wire.proto is chat.v1.ChatRequest's wire shape with every string read
// as bytes (see its header). The service parses requests with it, so a field
// added to, renumbered in or moved out of a oneof in one file and not the
// other would be dropped or misread without a word. This test compares the
// two generated descriptors field by field (names, numbers, types, labels,
// presence, oneofs, nested messages and enums), and shows on hand-made drifts
// that each kind of difference is caught.
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "chat/v1/chat.pb.h"
#include "chat_wire.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DescriptorProto;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FieldDescriptorProto;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::OneofDescriptor;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// How the two files differ, one sentence per difference.
class DriftFinder {
 public:
  // Compares `wire` (a chat_wire message) with `v1` (its chat.v1 twin) and
  // every message and enum they reach.
  void Compare(const Descriptor* wire, const Descriptor* v1) {
    CompareMessage(wire, v1);
  }

  const std::vector<std::string>& diffs() const { return diffs_; }
  int fields_compared() const { return fields_compared_; }

 private:
  static std::string OneofName(const FieldDescriptor* f) {
    const OneofDescriptor* o = f->real_containing_oneof();
    return o == nullptr ? "not in a oneof"
                        : absl::StrCat("in oneof ", o->name());
  }

  static std::string Label(const FieldDescriptor* f) {
    if (f->is_repeated()) return "repeated";
    return f->has_presence() ? "singular with presence" : "singular";
  }

  void Diff(const std::string& where, const std::string& what) {
    diffs_.push_back(absl::StrCat(where, ": ", what));
  }

  void CompareEnum(const EnumDescriptor* wire, const EnumDescriptor* v1) {
    if (!done_.insert(v1->full_name()).second) return;
    const std::string where = v1->name();
    if (wire->name() != v1->name()) {
      Diff(where, absl::StrCat("the enum is ", wire->name(), " in chat_wire"));
    }
    for (int i = 0; i < v1->value_count(); ++i) {
      const auto* v = v1->value(i);
      const auto* w = wire->FindValueByNumber(v->number());
      if (w == nullptr) {
        Diff(absl::StrCat(where, ".", v->name()),
             absl::StrCat("value ", v->number(), " is missing in chat_wire"));
      } else if (w->name() != v->name()) {
        Diff(absl::StrCat(where, ".", v->name()),
             absl::StrCat("value ", v->number(), " is ", w->name(),
                          " in chat_wire"));
      }
    }
    for (int i = 0; i < wire->value_count(); ++i) {
      const auto* w = wire->value(i);
      if (v1->FindValueByNumber(w->number()) == nullptr) {
        Diff(absl::StrCat(where, ".", w->name()),
             absl::StrCat("value ", w->number(), " is not in chat.v1"));
      }
    }
  }

  void CompareField(const std::string& where, const FieldDescriptor* w,
                    const FieldDescriptor* v) {
    ++fields_compared_;
    if (w->name() != v->name()) {
      Diff(where, absl::StrCat("number ", v->number(), " is named ", w->name(),
                               " in chat_wire"));
    }
    if (Label(w) != Label(v)) {
      Diff(where,
           absl::StrCat(Label(v), " in chat.v1, ", Label(w), " in chat_wire"));
    }
    if (OneofName(w) != OneofName(v)) {
      Diff(where, absl::StrCat(OneofName(v), " in chat.v1, ", OneofName(w),
                               " in chat_wire"));
    }
    if (w->is_packed() != v->is_packed()) {
      Diff(where, "packed in one file and not the other");
    }
    // The one allowed difference, and a required one: chat_wire reads every
    // string as bytes, so that invalid UTF-8 reaches the room core.
    if (v->type() == FieldDescriptor::TYPE_STRING) {
      if (w->type() != FieldDescriptor::TYPE_BYTES) {
        Diff(where, absl::StrCat("string in chat.v1 must be bytes in chat_wire "
                                 "(it is ",
                                 w->type_name(), ")"));
      }
      return;
    }
    if (w->type() != v->type()) {
      Diff(where, absl::StrCat(v->type_name(), " in chat.v1, ", w->type_name(),
                               " in chat_wire"));
      return;
    }
    if (v->type() == FieldDescriptor::TYPE_MESSAGE ||
        v->type() == FieldDescriptor::TYPE_GROUP) {
      CompareMessage(w->message_type(), v->message_type());
    } else if (v->type() == FieldDescriptor::TYPE_ENUM) {
      CompareEnum(w->enum_type(), v->enum_type());
    }
  }

  void CompareMessage(const Descriptor* wire, const Descriptor* v1) {
    if (!done_.insert(v1->full_name()).second) return;
    const std::string where = v1->name();
    if (wire->name() != v1->name()) {
      Diff(where,
           absl::StrCat("the message is ", wire->name(), " in chat_wire"));
    }
    for (int i = 0; i < v1->field_count(); ++i) {
      const FieldDescriptor* v = v1->field(i);
      const std::string at = absl::StrCat(where, ".", v->name());
      const FieldDescriptor* w = wire->FindFieldByNumber(v->number());
      if (w == nullptr) {
        Diff(at,
             absl::StrCat("number ", v->number(), " is missing in chat_wire"));
        continue;
      }
      CompareField(at, w, v);
    }
    for (int i = 0; i < wire->field_count(); ++i) {
      const FieldDescriptor* w = wire->field(i);
      if (v1->FindFieldByNumber(w->number()) == nullptr) {
        Diff(absl::StrCat(where, ".", w->name()),
             absl::StrCat("number ", w->number(), " is not in chat.v1"));
      }
    }
    for (int i = 0; i < v1->real_oneof_decl_count(); ++i) {
      const OneofDescriptor* o = v1->oneof_decl(i);
      if (wire->FindOneofByName(o->name()) == nullptr) {
        Diff(absl::StrCat(where, ".", o->name()),
             "the oneof is missing in chat_wire");
      }
    }
    for (int i = 0; i < wire->real_oneof_decl_count(); ++i) {
      const OneofDescriptor* o = wire->oneof_decl(i);
      if (v1->FindOneofByName(o->name()) == nullptr) {
        Diff(absl::StrCat(where, ".", o->name()),
             "the oneof is not in chat.v1");
      }
    }
    // Nested types, whether or not a field uses them yet.
    for (int i = 0; i < v1->nested_type_count(); ++i) {
      const Descriptor* v = v1->nested_type(i);
      const Descriptor* w = wire->FindNestedTypeByName(v->name());
      if (w == nullptr) {
        Diff(absl::StrCat(where, ".", v->name()),
             "the nested message is missing in chat_wire");
      } else {
        CompareMessage(w, v);
      }
    }
    for (int i = 0; i < wire->nested_type_count(); ++i) {
      if (v1->FindNestedTypeByName(wire->nested_type(i)->name()) == nullptr) {
        Diff(absl::StrCat(where, ".", wire->nested_type(i)->name()),
             "the nested message is not in chat.v1");
      }
    }
    for (int i = 0; i < v1->enum_type_count(); ++i) {
      const EnumDescriptor* v = v1->enum_type(i);
      const EnumDescriptor* w = wire->FindEnumTypeByName(v->name());
      if (w == nullptr) {
        Diff(absl::StrCat(where, ".", v->name()),
             "the nested enum is missing in chat_wire");
      } else {
        CompareEnum(w, v);
      }
    }
    for (int i = 0; i < wire->enum_type_count(); ++i) {
      if (v1->FindEnumTypeByName(wire->enum_type(i)->name()) == nullptr) {
        Diff(absl::StrCat(where, ".", wire->enum_type(i)->name()),
             "the nested enum is not in chat.v1");
      }
    }
  }

  std::set<std::string> done_;  // Full names of v1 types compared.
  std::vector<std::string> diffs_;
  int fields_compared_ = 0;
};

TEST(ChatWireTest, ChatRequestHasTheShapeOfChatV1) {
  DriftFinder finder;
  finder.Compare(wire::ChatRequest::descriptor(),
                 v1::ChatRequest::descriptor());
  EXPECT_THAT(finder.diffs(), IsEmpty())
      << "service/chat_wire.proto and proto/chat/v1/chat.proto's ChatRequest "
         "drifted apart; change chat_wire.proto to match (strings as bytes):\n "
         " "
      << absl::StrJoin(finder.diffs(), "\n  ");
  // ChatRequest's kinds, Join, Say, Rename, Leave: at least 13 fields.
  EXPECT_GE(finder.fields_compared(), 13);
}

// chat_wire.proto with `change` made to it, built in a pool of its own, and
// compared with chat.v1.
std::vector<std::string> DriftAfter(
    const std::function<void(FileDescriptorProto*)>& change) {
  FileDescriptorProto file;
  wire::ChatRequest::descriptor()->file()->CopyTo(&file);
  change(&file);
  DescriptorPool pool;
  const auto* built = pool.BuildFile(file);
  EXPECT_NE(built, nullptr);
  if (built == nullptr) return {"(the changed file did not build)"};
  DriftFinder finder;
  finder.Compare(built->FindMessageTypeByName("ChatRequest"),
                 v1::ChatRequest::descriptor());
  return finder.diffs();
}

DescriptorProto* MessageOf(FileDescriptorProto* file,
                           const std::string& message) {
  for (auto& m : *file->mutable_message_type()) {
    if (m.name() == message) return &m;
  }
  ADD_FAILURE() << "no message " << message;
  static DescriptorProto unused;
  return &unused;
}

FieldDescriptorProto* FieldOf(FileDescriptorProto* file,
                              const std::string& message,
                              const std::string& field) {
  for (auto& f : *MessageOf(file, message)->mutable_field()) {
    if (f.name() == field) return &f;
  }
  ADD_FAILURE() << "no field " << message << "." << field;
  static FieldDescriptorProto unused;
  return &unused;
}

TEST(ChatWireTest, EachKindOfDriftIsFound) {
  EXPECT_THAT(DriftAfter([](FileDescriptorProto*) {}), IsEmpty());
  EXPECT_THAT(
      DriftAfter([](FileDescriptorProto* f) {
        FieldOf(f, "Say", "text")->set_number(9);
      }),
      Contains(HasSubstr("Say.text: number 1 is missing in chat_wire")));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                auto* extra = MessageOf(f, "Join")->mutable_field()->Add();
                extra->set_name("extra");
                extra->set_number(9);
                extra->set_type(FieldDescriptorProto::TYPE_BYTES);
                extra->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
              }),
              Contains("Join.extra: number 9 is not in chat.v1"));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                FieldOf(f, "Join", "resume_epoch")->set_name("epoch");
              }),
              Contains("Join.resume_epoch: number 5 is named epoch in "
                       "chat_wire"));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                FieldOf(f, "Join", "history")
                    ->set_type(FieldDescriptorProto::TYPE_UINT64);
              }),
              Contains("Join.history: uint32 in chat.v1, uint64 in chat_wire"));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                FieldOf(f, "Rename", "name")
                    ->set_type(FieldDescriptorProto::TYPE_STRING);
              }),
              Contains(HasSubstr("Rename.name: string in chat.v1 must be bytes "
                                 "in chat_wire")));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                FieldOf(f, "ChatRequest", "leave")->clear_oneof_index();
              }),
              Contains("ChatRequest.leave: in oneof kind in chat.v1, not in a "
                       "oneof in chat_wire"));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                FieldOf(f, "Say", "action")
                    ->set_label(FieldDescriptorProto::LABEL_REPEATED);
              }),
              Contains("Say.action: singular in chat.v1, repeated in "
                       "chat_wire"));
  EXPECT_THAT(
      DriftAfter([](FileDescriptorProto* f) {
        MessageOf(f, "ChatRequest")->mutable_oneof_decl(0)->set_name("what");
      }),
      Contains("ChatRequest.kind: the oneof is missing in chat_wire"));
  EXPECT_THAT(DriftAfter([](FileDescriptorProto* f) {
                auto* nested =
                    MessageOf(f, "Join")->mutable_nested_type()->Add();
                nested->set_name("Extra");
              }),
              Contains("Join.Extra: the nested message is not in chat.v1"));
}

}  // namespace
}  // namespace chat
