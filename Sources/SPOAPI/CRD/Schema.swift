import KubeModels

/// A structural OpenAPI v3 schema as a CRD declares it (`openAPIV3Schema`), built in Swift so
/// that the CRD YAML has one source of truth. Only the keywords structural schemas use.
public struct Schema: Hashable, Sendable {
    /// `object`, `array`, `string`, `integer`, `boolean`, `number`; `nil` with
    /// `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`.
    public var type: String?
    public var format: String?
    public var description: String?
    public var properties: [String: Schema]?
    public var required: [String]?
    public var items: [Schema]?
    public var additionalProperties: [Schema]?
    public var enumValues: [String]?
    public var defaultValue: JSONValue?
    public var minimum: Int64?
    public var maxItems: Int?
    public var preserveUnknownFields = false
    public var intOrString = false
    public var mapType: String?
    public var listType: String?
    /// Emits `anyOf: [{type: integer}, {type: string}]`, as int-or-string fields do.
    var anyOf = false

    public init(type: String?, description: String? = nil) {
        self.type = type
        self.description = description
    }

    // MARK: Builders

    public static func string(_ description: String? = nil, enum values: [String]? = nil, default value: String? = nil, format: String? = nil) -> Schema {
        var schema = Schema(type: "string", description: description)
        schema.enumValues = values
        schema.defaultValue = value.map { .string($0) }
        schema.format = format
        return schema
    }

    /// A string restricted to an ``OpenEnum``'s values.
    public static func enumeration<E: OpenEnum>(_ type: E.Type, _ description: String? = nil, default value: E? = nil) -> Schema {
        .string(description, enum: E.allowed.map(\.rawValue), default: value?.rawValue)
    }

    public static func boolean(_ description: String? = nil, default value: Bool? = nil) -> Schema {
        var schema = Schema(type: "boolean", description: description)
        schema.defaultValue = value.map { .bool($0) }
        return schema
    }

    public static func integer(_ description: String? = nil, format: String? = nil, minimum: Int64? = nil) -> Schema {
        var schema = Schema(type: "integer", description: description)
        schema.format = format
        schema.minimum = minimum
        return schema
    }

    public static func array(_ items: Schema, _ description: String? = nil, maxItems: Int? = nil, default value: JSONValue? = nil) -> Schema {
        var schema = Schema(type: "array", description: description)
        schema.items = [items]
        schema.maxItems = maxItems
        schema.defaultValue = value
        return schema
    }

    public static func object(_ properties: [String: Schema], required: [String] = [], _ description: String? = nil) -> Schema {
        var schema = Schema(type: "object", description: description)
        schema.properties = properties
        schema.required = required.isEmpty ? nil : required
        return schema
    }

    /// An object with arbitrary keys whose values follow `values`.
    public static func map(_ values: Schema, _ description: String? = nil) -> Schema {
        var schema = Schema(type: "object", description: description)
        schema.additionalProperties = [values]
        return schema
    }

    /// A resource quantity: an integer or a string such as `250m`.
    public static func quantity() -> Schema {
        var schema = Schema(type: nil)
        schema.intOrString = true
        schema.anyOf = true
        return schema
    }

    /// Marks a free-form object whose content the API server keeps as written.
    public static func freeForm(_ description: String? = nil) -> Schema {
        var schema = Schema(type: "object", description: description)
        schema.preserveUnknownFields = true
        return schema
    }

    public func atomic() -> Schema {
        var copy = self
        copy.mapType = "atomic"
        return copy
    }

    // MARK: Rendering

    /// The schema as the JSON a CRD holds.
    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if anyOf { object["anyOf"] = [["type": "integer"], ["type": "string"]] }
        if let type { object["type"] = .string(type) }
        if let format { object["format"] = .string(format) }
        if let description { object["description"] = .string(description) }
        if let properties { object["properties"] = .object(properties.mapValues(\.json)) }
        if let required { object["required"] = .array(required.map { .string($0) }) }
        if let items = items?.first { object["items"] = items.json }
        if let values = additionalProperties?.first { object["additionalProperties"] = values.json }
        if let enumValues { object["enum"] = .array(enumValues.map { .string($0) }) }
        if let defaultValue { object["default"] = defaultValue }
        if let minimum { object["minimum"] = .int(minimum) }
        if let maxItems { object["maxItems"] = .int(Int64(maxItems)) }
        if preserveUnknownFields { object["x-kubernetes-preserve-unknown-fields"] = true }
        if intOrString { object["x-kubernetes-int-or-string"] = true }
        if let mapType { object["x-kubernetes-map-type"] = .string(mapType) }
        if let listType { object["x-kubernetes-list-type"] = .string(listType) }
        return .object(object)
    }
}
