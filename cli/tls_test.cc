// TLS end to end: the real chat-service with --tls_cert, the real chatctl,
// `openssl s_client` and `buf curl`, with certificates made at test time
// (testing/test_certs.h).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/test_certs.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Duration kWait = absl::Seconds(15);

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TestCerts>> certs = TestCerts::Make();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = certs->release();
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  // Starts chat-service serving `cert` (copied to a file of its own, which
  // a test may replace before a SIGHUP) with a TLS line port.
  void StartServer(const std::string& cert) {
    live_cert_ = absl::StrCat(
        certs_->dir(), "/live-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".pem");
    ASSERT_TRUE(CopyFile(cert, live_cert_));
    server_ = ChatServiceProcess::WithTempLog(
        ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
    absl::Status s = server_->Start(
        {"--tls_cert=" + live_cert_, "--tls_key=" + certs_->key(),
         "--legacy_tls_addr=127.0.0.1:0", "--flood_rate=0"});
    ASSERT_TRUE(s.ok()) << s << "\n" << server_->LogTail(20);
    for (absl::string_view word : absl::StrSplit(server_->ready_line(), ' ')) {
      if (absl::ConsumePrefix(&word, "legacy_tls=")) {
        legacy_tls_ = std::string(word);
      }
    }
    ASSERT_FALSE(legacy_tls_.empty()) << server_->ready_line();
    port_ = std::to_string(ChatServiceProcess::PortOf(server_->grpc_addr()));
  }

  // chatctl ARGS..., with its output; the exit code.
  int Chatctl(std::vector<std::string> args, std::string* err,
              std::string* out = nullptr,
              const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), CHATCTL_BIN);
    std::string ignored;
    return RunProgram(args, "", out != nullptr ? out : &ignored, err,
                      absl::Seconds(20), env);
  }

  std::unique_ptr<Subprocess> SClient(const std::string& address) {
    return std::make_unique<Subprocess>(std::vector<std::string>{
        "/usr/bin/openssl", "s_client", "-quiet", "-verify_return_error",
        "-CAfile", certs_->ca(), "-connect", address});
  }

  static TestCerts* certs_;
  std::string live_cert_;
  std::unique_ptr<ChatServiceProcess> server_;
  std::string legacy_tls_;
  std::string port_;
};

TestCerts* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, ChatctlOverTlsSendsAndReceives) {
  StartServer(certs_->cert());
  Subprocess bob(
      {CHATCTL_BIN, "join", "--name=bob", "--server=localhost:" + port_},
      {"CHATCTL_TLS_CA=" + certs_->ca()});
  ASSERT_TRUE(bob.WaitForStdout("bob joined", kWait)) << bob.err();
  std::string err;
  EXPECT_EQ(Chatctl({"send", "--name=alice", "--server=127.0.0.1:" + port_,
                     "--tls_ca=" + certs_->ca(), "hello over TLS"},
                    &err),
            0)
      << err;
  EXPECT_TRUE(bob.WaitForStdout("hello over TLS", kWait)) << bob.out();
  std::string out;
  EXPECT_EQ(Chatctl({"who", "--server=localhost:" + port_,
                     "--tls_ca=" + certs_->ca()},
                    &err, &out),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("bob grpc"));
}

TEST_F(TlsTest, PlaintextChatctlIsToldToUseTlsQuickly) {
  StartServer(certs_->cert());
  std::string err;
  const absl::Time start = absl::Now();
  EXPECT_EQ(Chatctl({"who", "--server=127.0.0.1:" + port_}, &err), 1);
  EXPECT_THAT(err, HasSubstr("this port serves TLS only: connect with TLS "
                             "(chatctl --tls)"));
  EXPECT_THAT(err, Not(HasSubstr("lost the connection")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(TlsTest, UnknownCaWrongHostExpiredAndNotTlsSayWhich) {
  StartServer(certs_->cert());
  std::string err;
  EXPECT_EQ(Chatctl({"who", "--server=localhost:" + port_,
                     "--tls_ca=" + certs_->other_ca()},
                    &err),
            1);
  EXPECT_THAT(err, HasSubstr("the server's certificate is not trusted: signed "
                             "by an unknown CA (give it with --tls_ca)"));
  // That sentence alone: not gRPC's own log line about the handshake.
  EXPECT_THAT(err, Not(HasSubstr("Handshake failed")));
  // The system's roots do not know the test CA either.
  EXPECT_EQ(Chatctl({"who", "--server=localhost:" + port_, "--tls"}, &err), 1);
  EXPECT_THAT(err, HasSubstr("signed by an unknown CA"));
  // The plaintext line port is not TLS.
  EXPECT_EQ(Chatctl({"who", "--server=" + server_->legacy_addr(),
                     "--tls_ca=" + certs_->ca()},
                    &err),
            1);
  EXPECT_THAT(err, HasSubstr("the server does not speak TLS on this port"));
  server_->Kill();

  StartServer(certs_->other_host_cert());
  EXPECT_EQ(Chatctl({"send", "--name=alice", "--server=127.0.0.1:" + port_,
                     "--tls_ca=" + certs_->ca(), "hi"},
                    &err),
            1);
  EXPECT_THAT(err, HasSubstr("the server's certificate is not for 127.0.0.1 "
                             "(it names chat.example.org)"));
  server_->Kill();

  StartServer(certs_->expired_cert());
  EXPECT_EQ(Chatctl({"who", "--server=localhost:" + port_,
                     "--tls_ca=" + certs_->ca()},
                    &err),
            1);
  EXPECT_THAT(err, HasSubstr("the server's certificate has expired (not "
                             "after "));
}

TEST_F(TlsTest, BufCurlWithCacert) {
  const std::string buf = BUF_BIN;
  if (access(buf.c_str(), X_OK) != 0) {
    GTEST_SKIP() << buf << " is missing (./dev test installs it)";
  }
  StartServer(certs_->cert());
  std::string out, err;
  const int code = RunProgram(
      {buf, "curl", "--protocol", "grpc", "--cacert", certs_->ca(), "-d",
       R"({"room":"lobby"})",
       "https://localhost:" + port_ + "/chat.v1.ChatRoom/ListMembers"},
      "", &out, &err, absl::Seconds(30));
  EXPECT_EQ(code, 0) << out << err;
  EXPECT_THAT(out, HasSubstr("{")) << err;
  // Without the CA, buf refuses the server (its reflection lookup fails).
  EXPECT_NE(
      RunProgram(
          {buf, "curl", "--protocol", "grpc", "-d", R"({"room":"lobby"})",
           "https://localhost:" + port_ + "/chat.v1.ChatRoom/ListMembers"},
          "", &out, &err, absl::Seconds(30)),
      0);
}

TEST_F(TlsTest, LineTlsPortChatsWithGrpcAndRefusesPlaintext) {
  StartServer(certs_->cert());
  Subprocess bob({CHATCTL_BIN, "join", "--name=bob",
                  "--server=localhost:" + port_, "--tls_ca=" + certs_->ca()});
  ASSERT_TRUE(bob.WaitForStdout("bob joined", kWait)) << bob.err();
  std::unique_ptr<Subprocess> line = SClient(legacy_tls_);
  ASSERT_TRUE(line->WaitForStdout("you are guest-", kWait)) << line->err();
  ASSERT_TRUE(line->Write("/nick carol\nhello from the TLS line port\n"));
  EXPECT_TRUE(bob.WaitForStdout("hello from the TLS line port", kWait))
      << bob.out();
  ASSERT_TRUE(bob.Write("hello back over gRPC\n"));
  EXPECT_TRUE(line->WaitForStdout("hello back over gRPC", kWait))
      << line->out();

  // A plaintext client on the TLS line port is told, and closed.
  std::string out, err;
  RunProgram({"/bin/bash", "-c",
              "exec 3<>/dev/tcp/127.0.0.1/" +
                  std::to_string(ChatServiceProcess::PortOf(legacy_tls_)) +
                  "; printf 'NICK bob\\r\\n' >&3; cat <&3"},
             "", &out, &err, kWait);
  EXPECT_THAT(out, HasSubstr("!! this port speaks TLS only: use openssl "
                             "s_client -quiet -connect"))
      << err;
}

TEST_F(TlsTest, SighupReloadKeepsOpenConnectionsAndServesTheNewCertificate) {
  StartServer(certs_->cert());
  Subprocess bob({CHATCTL_BIN, "join", "--name=bob",
                  "--server=localhost:" + port_, "--tls_ca=" + certs_->ca()});
  ASSERT_TRUE(bob.WaitForStdout("bob joined", kWait)) << bob.err();
  std::unique_ptr<Subprocess> line = SClient(legacy_tls_);
  ASSERT_TRUE(line->WaitForStdout("you are guest-", kWait)) << line->err();

  // A renewal: a bad file first (kept the old), then the new certificate.
  ASSERT_TRUE(CopyFile(certs_->ca(), live_cert_));
  kill(server_->pid(), SIGHUP);
  ASSERT_TRUE(PollUntil(
      [&] {
        return absl::StrContains(server_->Log(),
                                 "tls: reload failed, keeping "
                                 "the old certificate");
      },
      kWait))
      << server_->LogTail(10);
  ASSERT_TRUE(CopyFile(certs_->reloaded_cert(), live_cert_));
  kill(server_->pid(), SIGHUP);
  ASSERT_TRUE(PollUntil(
      [&] {
        return absl::StrContains(
            server_->Log(),
            "tls: reloaded certificate\" cert=\"CN=localhost-reloaded");
      },
      kWait))
      << server_->LogTail(10);

  // The chat open across the reloads goes on, both ways.
  ASSERT_TRUE(bob.Write("still here after the reload\n"));
  EXPECT_TRUE(line->WaitForStdout("still here after the reload", kWait))
      << line->out();
  ASSERT_TRUE(line->Write("me too\n"));
  EXPECT_TRUE(bob.WaitForStdout("me too", kWait)) << bob.out();

  // A new connection gets the new certificate, on both ports.
  for (const std::string& address :
       {"127.0.0.1:" + port_, std::string(legacy_tls_)}) {
    std::string out, err;
    EXPECT_EQ(
        RunProgram({"/usr/bin/openssl", "s_client", "-CAfile", certs_->ca(),
                    "-verify_return_error", "-connect", address},
                   "", &out, &err, kWait),
        0)
        << err;
    EXPECT_THAT(out, HasSubstr("subject=CN = localhost-reloaded")) << address;
  }
  std::string err;
  EXPECT_EQ(Chatctl({"send", "--name=dave", "--server=localhost:" + port_,
                     "--tls_ca=" + certs_->ca(), "new connection"},
                    &err),
            0)
      << err;
  EXPECT_TRUE(bob.WaitForStdout("new connection", kWait));
}

TEST_F(TlsTest, BadCertificateOrMissingOneStopsTheStart) {
  auto server = ChatServiceProcess::WithTempLog(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  EXPECT_FALSE(
      server
          ->Start({"--tls_cert=" + certs_->ca(), "--tls_key=" + certs_->key()})
          .ok());
  EXPECT_THAT(server->Log(), HasSubstr("does not match the certificate"));
  EXPECT_FALSE(server->Start({"--legacy_tls_addr=127.0.0.1:0"}).ok());
  EXPECT_THAT(server->Log(),
              HasSubstr("--legacy_tls_addr needs a certificate: give "
                        "--tls_cert and --tls_key too"));
}

}  // namespace
}  // namespace chat
