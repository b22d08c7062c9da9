/// The settings of a scaled dot-product attention op (`Op.attention`), in Keras's multi-head layout.
///
/// Inputs: query `[batch, Tq, heads, dk]`, key `[batch, Tk, heads, dk]`, value `[batch, Tk, heads, dv]` (the
/// layout of Keras's projected MultiHeadAttention tensors) and optionally a mask `[batch | 1, Tq | 1, Tk | 1]`
/// of bool or f32 (nonzero attends, as Keras casts it to bool), shared by every head; with the additive score,
/// its weights w `[dk]` come after value, before the mask. For each batch b, head
/// h and query position i (Keras's `MultiHeadAttention._compute_attention` and `ops.dot_product_attention`):
///
/// - logits[j] = sum over d of (scale * query[b, i, h, d]) * key[b, j, h, d], for j < Tk (`score` dot: Luong's
///   multiplicative attention, Keras's Attention and MultiHeadAttention), or, with `score` additive (Bahdanau's,
///   Keras's AdditiveAttention and Attention(score_mode="concat")), scale * sum over d of
///   w[d] * tanh(query[b, i, h, d] + key[b, j, h, d]), where w `[dk]` is an input after value;
/// - position j is masked where the mask is zero at [b, i, j], and, with `causal`, where j > i (Keras's
///   `use_causal_mask`: the lower triangle counted from the first query and key positions);
/// - p = softmax over the unmasked j (masked positions get weight 0), then
///   output[b, i, h, :] = sum over j of p[j] * value[b, j, h, :].
///
/// A row whose every position is masked gets the weights `fullyMaskedRows` says. Outputs: the result
/// `[batch, Tq, heads, dv]` and, with `returnsScores`, the weights `[batch, heads, Tq, Tk]` (Keras's
/// `return_attention_scores`).
public struct Attention: Hashable, Sendable {
    /// What a query row with every key position masked gets.
    public enum FullyMaskedRows: String, Hashable, Sendable, CaseIterable {
        /// Equal weights 1 / Tk: Keras 2's Softmax adds -1e9 to masked logits and Keras 3's
        /// `dot_product_attention` replaces them by -0.7 * Float.max, which leaves all logits of such a row equal.
        case uniform
        /// Weight 0 everywhere (the result is 0): Keras 3's Softmax layer multiplies its result by the mask.
        case zero
        /// Weight 1 everywhere (the result is the sum of the values): Keras 2's Softmax over several axes computes
        /// exp(x - logsumexp(x)), and the logsumexp of equal logits near -1e9 rounds to the logits themselves.
        case ones
    }

    /// How a query and a key make a logit.
    public enum Score: String, Hashable, Sendable, CaseIterable {
        case dot, additive
    }

    /// The factor on the query before its product with the keys (Keras's 1 / sqrt(key_dim)), or on the additive
    /// score.
    public var scale: Float
    public var score: Score
    /// Whether query position i attends only to key positions j <= i.
    public var causal: Bool
    public var fullyMaskedRows: FullyMaskedRows
    /// Whether the weights are a second output.
    public var returnsScores: Bool

    public init(
        scale: Float, score: Score = .dot, causal: Bool = false, fullyMaskedRows: FullyMaskedRows = .uniform, returnsScores: Bool = false
    ) {
        self.scale = scale
        self.score = score
        self.causal = causal
        self.fullyMaskedRows = fullyMaskedRows
        self.returnsScores = returnsScores
    }

    /// The position of the mask among the inputs.
    public var maskIndex: Int { score == .dot ? 3 : 4 }
}
