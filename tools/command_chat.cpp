// `jisu chat [-m MODEL]`: a conversation in the terminal. Each turn renders the whole history
// with the model's chat template (ChatML when it has none) and submits it to a ServingEngine,
// whose prefix cache reuses the K/V of the turns before, so a reply starts without recomputing
// the conversation. Commands: /reset, /system TEXT, /help, /exit. Ctrl-C stops the reply being
// written; a second Ctrl-C (or one at the prompt) exits with 130, Ctrl-D or /exit with 0.
// The reply goes to stdout, the speed after it and every notice to stderr.
#include <jisu/serving_engine.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "chat_session.h"
#include "core/error.h"
#include "command_registry.h"
#include "model_loading.h"
#include "sampling_options.h"

namespace jisu::cli {
namespace {

struct ChatOptions {
  ModelOptions model;
  std::string system_prompt;
  bool quiet = false;
  SamplingParams sampling;
  ChatOptions() { sampling.max_tokens = 256; }
};

std::atomic<int> g_interrupts{0};
// The self-pipe: the handler also writes a byte here, so a Ctrl-C that lands between
// read_line's check of g_interrupts and its wait still wakes the wait (poll sees the byte);
// waiting in read(2) alone would miss it and block until the next key.
int g_interrupt_pipe[2] = {-1, -1};
extern "C" void count_interrupt(int) {
  g_interrupts.fetch_add(1);
  const int saved_errno = errno;
  const char byte = 1;
  [[maybe_unused]] const ssize_t written = ::write(g_interrupt_pipe[1], &byte, 1);
  errno = saved_errno;
}

// Ctrl-C must interrupt a blocking wait (no SA_RESTART) instead of killing the process.
void install_interrupt_handler() {
  if (::pipe2(g_interrupt_pipe, O_NONBLOCK | O_CLOEXEC) != 0) throw Error("jisu chat: cannot create a pipe for Ctrl-C");
  struct sigaction action {};
  action.sa_handler = count_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
}

enum class LineStatus { Line, EndOfInput, Interrupted };

// One line of standard input (without its newline), read with read(2) so that Ctrl-C ends the
// wait at once.
LineStatus read_line(std::string& line) {
  static std::string pending;
  while (true) {
    if (const size_t newline = pending.find('\n'); newline != std::string::npos) {
      line.assign(pending, 0, newline);
      pending.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return LineStatus::Line;
    }
    if (g_interrupts.load() > 0) return LineStatus::Interrupted;
    pollfd waits[2] = {{STDIN_FILENO, POLLIN, 0}, {g_interrupt_pipe[0], POLLIN, 0}};
    if (::poll(waits, 2, -1) < 0) continue;  // EINTR: the loop checks g_interrupts
    if (waits[1].revents != 0) {
      // Bytes of earlier Ctrl-Cs (already counted, or reset after a reply) are dropped; the
      // count decides.
      char drained[64];
      while (::read(g_interrupt_pipe[0], drained, sizeof drained) > 0) {
      }
      continue;
    }
    char buffer[4096];
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (pending.empty()) return LineStatus::EndOfInput;
      line.swap(pending);
      pending.clear();
      return LineStatus::Line;
    }
    pending.append(buffer, static_cast<size_t>(n));
  }
}

constexpr char kHelp[] =
    "/reset clears the conversation, /system TEXT sets the system prompt (/system alone removes it),\n"
    "/exit or Ctrl-D quits; Ctrl-C stops a reply, a second Ctrl-C exits\n";

int run_chat(ChatOptions& options) {
  validate_sampling_options(options.sampling);
  const ServingOptions serving = options.model.serving_options();
  auto engine = load_with_loading_line(serving.model_path, options.quiet, [&] { return ServingEngine::create(serving); });
  install_interrupt_handler();

  ChatSession session(*engine, options.sampling);
  if (!options.system_prompt.empty()) session.set_system_prompt(options.system_prompt);
  if (!options.quiet) std::fputs(kHelp, stderr);

  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    const LineStatus status = read_line(line);
    if (status == LineStatus::Interrupted) {
      std::fputc('\n', stdout);
      return 130;
    }
    if (status == LineStatus::EndOfInput) {
      std::fputc('\n', stdout);
      return 0;
    }
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") return 0;
    if (line == "/help") {
      std::fputs(kHelp, stderr);
      continue;
    }
    if (line == "/reset") {
      session.reset();
      std::fputs("(conversation cleared)\n", stderr);
      continue;
    }
    if (line == "/system" || line.starts_with("/system ")) {
      const std::string text = line.size() > 8 ? line.substr(8) : "";
      session.set_system_prompt(text);
      std::fputs(text.empty() ? "(system prompt removed)\n" : "(system prompt set)\n", stderr);
      continue;
    }
    if (line[0] == '/' && line.find(' ') == std::string::npos) {
      std::fprintf(stderr, "unknown command %s; %s", line.c_str(), kHelp);
      continue;
    }

    const ReplyOutcome outcome = session.reply(
        line,
        [](std::string_view piece) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        },
        [] { return g_interrupts.load() > 0; });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!outcome.error.empty()) {
      std::fprintf(stderr, "error: %s\n", outcome.error.c_str());
    } else if (!options.quiet) {
      std::fprintf(stderr, "[%s]\n", outcome.speed_line().c_str());
    }
    // The reply stopped on the first Ctrl-C; one that came after it asks to leave.
    if (g_interrupts.exchange(0) > 1) return 130;
  }
}

CommandRegistrar registrar{
    "chat", "Chat with a model in the terminal (its chat template, history, /reset, /system)", [](CLI::App& command) {
      auto options = std::make_shared<ChatOptions>();
      add_model_options(command, options->model);
      command.add_option("--system", options->system_prompt, "system prompt to start with")->default_str("none");
      add_sampling_options(command, options->sampling);
      command.add_flag("-q,--quiet", options->quiet, "print neither the loading line, the help nor the speeds");
      return [options] { return run_chat(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
