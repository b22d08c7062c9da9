/// The settings of a recurrent op (`Op.recurrent`): which cell, which directions, the hidden size and the
/// activation functions.
///
/// The cells are ONNX's `RNN`, `GRU` and `LSTM` operators (ONNX operator spec, opset 14), without peepholes or
/// `clip`, in ONNX's batch-major layout (`layout = 1`), which is Keras's, with Keras's step mask in place of
/// ONNX's `sequence_lens` (a mask of trailing padding is `sequence_lens`):
///
/// - inputs: X `[batch, seq, input]`, W `[dirs, gates * hidden, input]`, R `[dirs, gates * hidden, hidden]`,
///   B `[dirs, 2 * gates * hidden]` (W's biases then R's; zeros for a layer without bias), then, only when
///   `maskedOutput` is set, the mask M `[batch, seq]` (bool), and optionally initial_h `[batch, dirs, hidden]` and,
///   for LSTM only and only after initial_h, initial_c `[batch, dirs, hidden]`; missing initial states are zeros.
/// - outputs: Y `[batch, seq, dirs, hidden]` (every step's hidden state, at the position of the input step it
///   read, also for the reverse direction), Y_h `[batch, dirs, hidden]` (the last hidden state of each direction:
///   after step seq - 1 forward, after step 0 in reverse), and for LSTM Y_c `[batch, dirs, hidden]` (the last cell
///   state).
///
/// `gates` is 1 for RNN, 3 for GRU (order z, r, h) and 4 for LSTM (order i, o, f, c); `dirs` is 2 for
/// bidirectional (forward first), else 1. With f, g, h the activations of one direction (ONNX's names), each
/// step computes, for X_t one row of input and H the previous hidden state (C the previous cell state):
///
/// - RNN: H' = f(X_t W_iᵀ + H R_iᵀ + Wb_i + Rb_i)
/// - GRU: z = f(X_t W_zᵀ + H R_zᵀ + Wb_z + Rb_z), r = f(X_t W_rᵀ + H R_rᵀ + Wb_r + Rb_r),
///   h = g(X_t W_hᵀ + (r ⊙ H) R_hᵀ + Rb_h + Wb_h), or with `linearBeforeReset`
///   h = g(X_t W_hᵀ + r ⊙ (H R_hᵀ + Rb_h) + Wb_h); H' = (1 - z) ⊙ h + z ⊙ H
/// - LSTM: i = f(X_t W_iᵀ + H R_iᵀ + Wb_i + Rb_i), likewise o and f with f, c = g(...);
///   C' = f ⊙ C + i ⊙ c, H' = o ⊙ h(C')
///
/// A step t of batch row n with M[n, t] false is skipped, as Keras's `backend.rnn` does with a mask (tf-keras
/// `backend.py`, Keras 3 `backend/tensorflow/rnn.py`): H and C keep their values, and Y at that step is zeros
/// (`MaskedOutput.zeros`) or Y of the step processed just before it, zeros for the first step processed
/// (`MaskedOutput.previous`). Y_h and Y_c are the states after the last step not masked (the initial states when
/// every step is masked). With a mask that is true up to a length and false after it, `zeros` is ONNX's
/// `sequence_lens`.
public struct Recurrence: Hashable, Sendable {
    /// The recurrent cell.
    public enum Cell: Hashable, Sendable {
        /// ONNX RNN: one gate.
        case rnn
        /// ONNX GRU; `linearBeforeReset` is ONNX's `linear_before_reset` (Keras's `reset_after`).
        case gru(linearBeforeReset: Bool)
        /// ONNX LSTM without peepholes.
        case lstm
    }

    /// Which way the sequence is read: ONNX's `direction`.
    public enum Direction: String, Hashable, Sendable, CaseIterable {
        case forward, reverse, bidirectional
    }

    public var cell: Cell
    public var direction: Direction
    /// The size of the hidden (and cell) state, ONNX's `hidden_size`.
    public var hiddenSize: Int
    /// f (RNN); f, g (GRU); f, g, h (LSTM), then the same again for the reverse direction of a bidirectional op.
    public var activations: [Activation]
    /// What Y holds at a masked step; nil for an op without the mask input M.
    public var maskedOutput: MaskedOutput?

    /// Y at a step the mask switches off (Keras's `zero_output_for_mask`).
    public enum MaskedOutput: String, Hashable, Sendable, CaseIterable {
        /// Zeros: Keras's `zero_output_for_mask=True` (set by Bidirectional with `return_sequences`), ONNX's
        /// output past `sequence_lens`.
        case zeros
        /// Y of the step processed before (zeros before the first): Keras's default.
        case previous
    }

    public init(cell: Cell, direction: Direction, hiddenSize: Int, activations: [Activation], maskedOutput: MaskedOutput? = nil) {
        self.cell = cell
        self.direction = direction
        self.hiddenSize = hiddenSize
        self.activations = activations
        self.maskedOutput = maskedOutput
    }

    /// The number of gates stacked in W, R and B: 1 for RNN, 3 for GRU, 4 for LSTM.
    public var gates: Int {
        switch cell {
        case .rnn: 1
        case .gru: 3
        case .lstm: 4
        }
    }

    /// The number of activations per direction: 1 for RNN, 2 for GRU, 3 for LSTM.
    public var activationsPerDirection: Int {
        switch cell {
        case .rnn: 1
        case .gru: 2
        case .lstm: 3
        }
    }

    /// 2 for bidirectional, else 1.
    public var directions: Int { direction == .bidirectional ? 2 : 1 }

    /// ONNX's default activations for the cell, for each direction: Tanh (RNN); Sigmoid, Tanh (GRU);
    /// Sigmoid, Tanh, Tanh (LSTM).
    public static func defaultActivations(_ cell: Cell, direction: Direction) -> [Activation] {
        let one: [Activation] =
            switch cell {
            case .rnn: [.tanh]
            case .gru: [.sigmoid, .tanh]
            case .lstm: [.sigmoid, .tanh, .tanh]
            }
        return direction == .bidirectional ? one + one : one
    }

    /// The number of outputs: Y and Y_h, and Y_c for LSTM.
    public var outputCount: Int { cell == .lstm ? 3 : 2 }

    /// The position of initial_h among the inputs: after X, W, R, B and, with a mask, M.
    public var initialStateIndex: Int { maskedOutput == nil ? 4 : 5 }

    /// The position of the mask M among the inputs, nil without one.
    public var maskIndex: Int? { maskedOutput == nil ? nil : 4 }

    /// The smallest number of inputs: X, W, R, B and, with a mask, M.
    public var minimumInputs: Int { initialStateIndex }

    /// The largest number of inputs: the smallest, then initial_h, and initial_c for LSTM.
    public var maximumInputs: Int { initialStateIndex + (cell == .lstm ? 2 : 1) }
}
