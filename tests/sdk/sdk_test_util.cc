#include "tests/sdk/sdk_test_util.h"

#include <utility>  // Before Boost 1.74's Asio under GCC 12 in C++20 mode.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace runnel::sdk::testing {

FunctionProcess::FunctionProcess(const std::string& binary, std::vector<std::string> extra_args,
                                 std::map<std::string, std::string> env) {
  int out[2];
  if (pipe(out) != 0) {
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    for (const auto& [k, v] : env) {
      setenv(k.c_str(), v.c_str(), 1);
    }
    std::vector<std::string> args = {binary, "--host=127.0.0.1", "--grpc-port=0",
                                     "--http-port=0"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) {
      continue;
    }
    char c;
    if (read(out[0], &c, 1) != 1) {
      break;
    }
    if (c != '\n') {
      line += c;
      continue;
    }
    if (std::sscanf(line.c_str(), "runnel-sdk: ready grpc_port=%d http_port=%d", &grpc_port_,
                    &http_port_) == 2) {
      break;
    }
    line.clear();
  }
  close(out[0]);  // Later writes to stdout by the child get EPIPE, which the SDK never does.
}

int FunctionProcess::Terminate() {
  if (pid_ <= 0) {
    return -1;
  }
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300; ++i) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

FunctionProcess::~FunctionProcess() { Terminate(); }

streaming::InputSignal StartSignal(std::vector<std::string> accept,
                                   std::vector<std::string> inputs,
                                   std::vector<std::string> outputs) {
  streaming::InputSignal s;
  for (std::string& a : accept) {
    s.mutable_start()->add_expectedcontenttypes(std::move(a));
  }
  for (std::string& i : inputs) {
    s.mutable_start()->add_inputnames(std::move(i));
  }
  for (std::string& o : outputs) {
    s.mutable_start()->add_outputnames(std::move(o));
  }
  return s;
}

streaming::InputSignal DataSignal(const Frame& frame) {
  streaming::InputSignal s;
  streaming::InputFrame* f = s.mutable_data();
  f->set_argindex(frame.index);
  f->set_payload(frame.payload);
  f->set_contenttype(frame.content_type);
  for (const auto& [k, v] : frame.headers) {
    (*f->mutable_headers())[k] = v;
  }
  return s;
}

InvokeResult Invoke(const std::string& target, const std::vector<streaming::InputSignal>& signals) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = streaming::Riff::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub->Invoke(&ctx);
  InvokeResult result;
  std::thread reader([&] {
    streaming::OutputSignal out;
    while (stream->Read(&out)) {
      result.outputs.push_back(out.data());
    }
  });
  for (const streaming::InputSignal& s : signals) {
    if (!stream->Write(s)) {
      break;  // The server finished early (an error); Finish reports why.
    }
  }
  stream->WritesDone();
  reader.join();
  result.status = stream->Finish();
  return result;
}

InvokeResult Invoke(const std::string& target, std::vector<std::string> accept,
                    std::vector<std::string> inputs, std::vector<std::string> outputs,
                    const std::vector<Frame>& frames) {
  std::vector<streaming::InputSignal> signals;
  signals.push_back(StartSignal(std::move(accept), std::move(inputs), std::move(outputs)));
  for (const Frame& f : frames) {
    signals.push_back(DataSignal(f));
  }
  return Invoke(target, signals);
}

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

struct HttpConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool connected = false;
};

HttpConnection::HttpConnection(int port) : impl_(std::make_unique<Impl>()) {
  beast::error_code ec;
  impl_->stream.connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  impl_->connected = !ec;
}

HttpConnection::~HttpConnection() {
  beast::error_code ec;
  impl_->stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
}

HttpResponse HttpConnection::Request(const std::string& method, const std::string& target,
                                     const std::map<std::string, std::string>& headers,
                                     const std::string& body) {
  HttpResponse out;
  if (!impl_->connected) {
    return out;
  }
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) {
    req.set(k, v);
  }
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  impl_->stream.expires_after(std::chrono::seconds(30));
  http::write(impl_->stream, req, ec);
  if (ec) {
    return out;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(impl_->stream, impl_->buffer, parser, ec);
  if (ec) {
    return out;
  }
  http::response<http::string_body> res = parser.release();
  out.status = res.result_int();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  return out;
}

}  // namespace runnel::sdk::testing
