import KilnIR

extension KerasReader {
    /// Lowers a Keras model configuration that another frontend found (the `model_config` a SavedModel's
    /// `keras_metadata.pb` holds) with weights from its own source, exactly as a `.h5` file's configuration
    /// and weights are lowered: same layers, same names, same checks.
    ///
    /// - Parameters:
    ///   - configuration: the JSON text of `{"class_name": ..., "config": ...}`, as `model.to_json()` writes it.
    ///   - version: the Keras version that wrote it (`2.15.0`), which decides version-dependent definitions.
    ///   - format: recorded as the graph's `source_format` metadata (`savedmodel`).
    ///   - file: the path named in errors.
    public static func lower(
        configuration: String, version: String?, backend: String?, format: String, weights: any KerasWeightSource, file: String,
        inputShapes: [String: [Int]] = [:], statefulAsStateless: Bool = false
    ) throws(KerasImportError) -> Graph {
        try lower(
            configuration, version: version, backend: backend, format: format, weights: weights, file: file,
            options: Options(inputShapes: inputShapes, statefulAsStateless: statefulAsStateless))
    }
}
