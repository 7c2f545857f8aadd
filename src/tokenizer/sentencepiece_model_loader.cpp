// Tokenizer::from_sentencepiece_model: reads a SentencePiece ModelProto (tokenizer.model as
// shipped with Llama 2 checkpoints). Field numbers are those of sentencepiece_model.proto.
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "tokenizer/protobuf_reader.h"
#include "tokenizer/sentencepiece_bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocabulary.h"

namespace jisu {
namespace {

// ModelProto
constexpr uint32_t kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3;
// ModelProto.SentencePiece
constexpr uint32_t kPieceText = 1, kPieceScore = 2, kPieceType = 3;
// TrainerSpec
constexpr uint32_t kModelType = 3, kUnkId = 40, kBosId = 41, kEosId = 42, kPadId = 43;
constexpr int64_t kModelTypeUnigram = 1, kModelTypeBpe = 2;
// NormalizerSpec
constexpr uint32_t kNormalizerName = 1, kPrecompiledCharsmap = 2, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
                   kEscapeWhitespaces = 5;

struct TrainerSpec {
  int64_t model_type = kModelTypeUnigram;  // proto default
  int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

struct NormalizerSpec {
  std::string name;
  bool has_charsmap = false;
  bool add_dummy_prefix = true;  // proto defaults
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path, "check the path to the tokenizer.model file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TrainerSpec parse_trainer_spec(std::string_view data, const std::string& path) {
  TrainerSpec spec;
  ProtobufReader reader(data, path);
  ProtobufField f;
  while (reader.next(f)) {
    if (f.wire_type != 0) continue;
    switch (f.number) {
      case kModelType: spec.model_type = f.as_int(); break;
      case kUnkId: spec.unk_id = static_cast<int32_t>(f.as_int()); break;
      case kBosId: spec.bos_id = static_cast<int32_t>(f.as_int()); break;
      case kEosId: spec.eos_id = static_cast<int32_t>(f.as_int()); break;
      case kPadId: spec.pad_id = static_cast<int32_t>(f.as_int()); break;
      default: break;
    }
  }
  return spec;
}

NormalizerSpec parse_normalizer_spec(std::string_view data, const std::string& path) {
  NormalizerSpec spec;
  ProtobufReader reader(data, path);
  ProtobufField f;
  while (reader.next(f)) {
    switch (f.number) {
      case kNormalizerName: spec.name = std::string(f.bytes); break;
      case kPrecompiledCharsmap: spec.has_charsmap = !f.bytes.empty(); break;
      case kAddDummyPrefix: spec.add_dummy_prefix = f.varint != 0; break;
      case kRemoveExtraWhitespaces: spec.remove_extra_whitespaces = f.varint != 0; break;
      case kEscapeWhitespaces: spec.escape_whitespaces = f.varint != 0; break;
      default: break;
    }
  }
  return spec;
}

void add_piece(Vocabulary& vocabulary, std::string_view data, const std::string& path) {
  std::string text;
  float score = 0;
  int64_t type = static_cast<int64_t>(TokenType::Normal);
  ProtobufReader reader(data, path);
  ProtobufField f;
  while (reader.next(f)) {
    if (f.number == kPieceText && f.wire_type == 2) text = std::string(f.bytes);
    if (f.number == kPieceScore && f.wire_type == 5) score = f.as_float();
    if (f.number == kPieceType && f.wire_type == 0) type = f.as_int();
  }
  const TokenType token_type = (type >= 1 && type <= 6) ? static_cast<TokenType>(type) : TokenType::Undefined;
  vocabulary.add(std::move(text), score, token_type);
}

int32_t in_range(const Vocabulary& vocabulary, int64_t id) { return vocabulary.contains(static_cast<int32_t>(id)) ? static_cast<int32_t>(id) : -1; }

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_sentencepiece_model(const std::string& path) {
  const std::string data = read_file(path);
  auto vocabulary = std::make_unique<Vocabulary>();
  TrainerSpec trainer;
  NormalizerSpec normalizer;
  ProtobufReader reader(data, path);
  ProtobufField f;
  while (reader.next(f)) {
    if (f.wire_type != 2) continue;
    if (f.number == kPieces) add_piece(*vocabulary, f.bytes, path);
    if (f.number == kTrainerSpec) trainer = parse_trainer_spec(f.bytes, path);
    if (f.number == kNormalizerSpec) normalizer = parse_normalizer_spec(f.bytes, path);
  }
  if (vocabulary->size() == 0) throw Error(path + ": no pieces in the SentencePiece model", "is this a tokenizer.model file?");
  if (trainer.model_type != kModelTypeBpe)
    throw Error(path + ": SentencePiece model type " + std::to_string(trainer.model_type) + " is not supported",
                "only BPE models (model_type 2, as Llama 2) are implemented, not unigram");
  if (normalizer.has_charsmap && normalizer.name != "identity")
    throw Error(path + ": SentencePiece normalizer '" + normalizer.name + "' is not supported",
                "only the identity normalizer (as Llama 2 uses) is implemented");
  vocabulary->finalize(path);

  Vocabulary& v = *vocabulary;
  v.special.unknown = in_range(v, trainer.unk_id);
  v.special.bos = in_range(v, trainer.bos_id);
  v.special.eos = in_range(v, trainer.eos_id);
  v.special.padding = in_range(v, trainer.pad_id);
  v.collect_end_of_generation();

  SentencePieceOptions options;
  options.merge_order = SentencePieceOptions::MergeOrder::PieceScore;
  options.dummy_prefix = normalizer.add_dummy_prefix ? SentencePieceOptions::DummyPrefix::EveryFragment
                                                     : SentencePieceOptions::DummyPrefix::Never;
  options.remove_extra_whitespace = normalizer.remove_extra_whitespaces;
  options.escape_whitespace = normalizer.escape_whitespaces;
  auto model = std::make_unique<SentencePieceBpe>(v, options);
  // Hugging Face's LlamaTokenizer adds BOS and no EOS by default.
  std::vector<int32_t> prefix;
  if (v.special.bos >= 0) prefix.push_back(v.special.bos);
  return std::make_unique<Tokenizer>(std::move(vocabulary), std::move(model), TokenizerKind::SentencePieceBpe,
                                     std::move(prefix), std::vector<int32_t>{});
}

}  // namespace jisu
