// The serving engine's chat prompt: the model's template when it has one (with its BOS/EOS
// texts), ChatML otherwise. Expected strings are written out by hand from the templates.
#include <gtest/gtest.h>

#include "core/error.h"
#include "chat/chat_prompt.h"

namespace jisu::test {
namespace {

const char* kTemplateWithBos =
    "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}";

TEST(ChatPrompt, RendersTheModelTemplateWithItsSpecialTokens) {
  ChatPrompt chat(std::string(kTemplateWithBos), "<s>", "</s>");
  EXPECT_TRUE(chat.starts_with_bos());
  std::string prompt, error;
  ASSERT_TRUE(chat.render({{"system", "Be brief."}, {"user", "Hi"}}, prompt, error)) << error;
  EXPECT_EQ(prompt, "<s>[system] Be brief.</s>[user] Hi</s>[assistant] ");
}

TEST(ChatPrompt, TemplateWithoutBosLeavesItToTheTokenizer) {
  ChatPrompt chat(std::string("{% for m in messages %}{{ m.content }}\n{% endfor %}"), "<s>", "</s>");
  EXPECT_FALSE(chat.starts_with_bos());
}

TEST(ChatPrompt, TemplateErrorsBecomeRequestErrors) {
  ChatPrompt chat(std::string("{% if messages[0].role != 'system' %}{{ raise_exception('system first') }}{% endif %}"),
                  "<s>", "</s>");
  std::string prompt, error;
  EXPECT_FALSE(chat.render({{"user", "Hi"}}, prompt, error));
  EXPECT_NE(error.find("system first"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(ChatPrompt, BrokenTemplateFailsAtLoad) {
  EXPECT_THROW(ChatPrompt(std::string("{% for m in messages %}"), "<s>", "</s>"), Error);
}

TEST(ChatPrompt, ChatMlWithoutTemplate) {
  ChatPrompt chat(std::nullopt, "<s>", "</s>");
  EXPECT_FALSE(chat.starts_with_bos());
  std::string prompt, error;
  ASSERT_TRUE(chat.render({{"user", "Hi"}}, prompt, error));
  EXPECT_EQ(prompt, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_FALSE(chat.render({{"", "Hi"}}, prompt, error));
}

}  // namespace
}  // namespace jisu::test
