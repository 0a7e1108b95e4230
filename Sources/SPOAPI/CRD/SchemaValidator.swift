import KubeModels

/// Checks a JSON object against a structural schema the way the API server does on create:
/// types, enums, required fields, `minimum`, `maxItems`, and fields the schema does not
/// declare (which the server would prune, silently losing what the user wrote).
public enum SchemaValidator {
    public static func validate(_ value: JSONValue, against schema: Schema) -> [ValidationProblem] {
        var problems: [ValidationProblem] = []
        check(value, schema, at: FieldPath(""), into: &problems)
        return problems
    }

    private static func check(_ value: JSONValue, _ schema: Schema, at field: FieldPath, into problems: inout [ValidationProblem]) {
        if case .null = value { return }
        if schema.intOrString {
            switch value {
            case .int, .string: return
            default:
                problems.append(ValidationProblem(field: field, reason: .invalidType, detail: "expected integer or string"))
                return
            }
        }
        switch (schema.type, value) {
        case (nil, _):
            return
        case ("string", .string(let text)):
            if let allowed = schema.enumValues, !allowed.contains(text) {
                let supported = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
                problems.append(ValidationProblem(field: field, reason: .unsupported, value: text, detail: "supported values: \(supported)"))
            }
        case ("boolean", .bool):
            return
        case ("integer", .int(let number)):
            if let minimum = schema.minimum, number < minimum {
                problems.append(ValidationProblem(field: field, reason: .invalid, value: String(number), detail: "should be greater than or equal to \(minimum)"))
            }
        case ("integer", .double(let number)) where number == number.rounded():
            return
        case ("number", .int), ("number", .double):
            return
        case ("array", .array(let items)):
            if let maximum = schema.maxItems, items.count > maximum {
                problems.append(ValidationProblem(field: field, reason: .tooMany, value: String(items.count), detail: "must have at most \(maximum) items"))
            }
            if let itemSchema = schema.items?.first {
                for (index, item) in items.enumerated() { check(item, itemSchema, at: field.index(index), into: &problems) }
            }
        case ("object", .object(let members)):
            for name in schema.required ?? [] where members[name] == nil {
                problems.append(ValidationProblem(field: field.child(name), reason: .required))
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let property = schema.properties?[name] {
                    check(member, property, at: field.child(name), into: &problems)
                } else if let values = schema.additionalProperties?.first {
                    check(member, values, at: field.key(name), into: &problems)
                } else if !schema.preserveUnknownFields, schema.properties != nil {
                    problems.append(ValidationProblem(field: field.child(name), reason: .unknownField, detail: "not in the schema; the API server would drop it"))
                }
            }
        case (let type?, _):
            problems.append(ValidationProblem(field: field, reason: .invalidType, detail: "expected \(type)"))
        }
    }
}
