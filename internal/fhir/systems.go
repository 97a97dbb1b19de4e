package fhir

// Identifier and code system URIs for China-specific data. Where no national FHIR
// URI has been published, HIP uses its own namespace (NS); data/SOURCES.md lists
// each with the standard it stands for. Capabilities refer to these constants,
// never to literal strings.
const (
	NS = "https://hip-platform.github.io/fhir/"

	// Identifiers.
	SystemResidentID = "urn:oid:2.16.156.10011.1.3"    // 居民身份证号码 (GB 11643, 18 digits): the national OID (WS/T 500)
	SystemHealthCard = "urn:oid:2.16.156.10011.1.19"   // 居民健康卡号: the national OID
	SystemLicense    = NS + "sid/practitioner-license" // 医师/护士/药师执业证书编码
	SystemOrgCode    = NS + "sid/organization-code"    // 医疗机构执业许可证登记号
	SystemMRNPrefix  = NS + "sid/mrn/"                 // + Organization id: a facility's local patient number
	SystemHousehold  = NS + "sid/household"            // 户号
	SystemUSCC       = NS + "sid/uscc"                 // 统一社会信用代码 (GB 32100, 18 characters)

	// Extensions.
	ExtDivision = NS + "StructureDefinition/division" // an Address's GB/T 2260 division (valueCoding)

	// Code systems.
	SystemICD10         = NS + "CodeSystem/icd-10-cn"      // ICD-10 国家临床版 2.0
	SystemICD9CM3       = NS + "CodeSystem/icd-9-cm-3-cn"  // ICD-9-CM-3 手术操作 国家临床版 3.0
	SystemDrug          = NS + "CodeSystem/nhsa-drug"      // 国家医保药品分类与代码
	SystemMedicalItem   = NS + "CodeSystem/nhsa-item"      // 国家医保医疗服务项目分类与代码
	SystemDivision      = NS + "CodeSystem/gb-t-2260"      // GB/T 2260 行政区划代码 (+ 统计用区划代码)
	SystemFacilityKind  = NS + "CodeSystem/facility-kind"  // 机构类别
	SystemFacilityLevel = NS + "CodeSystem/facility-level" // 医院等级
	SystemDepartment    = NS + "CodeSystem/department"     // 诊疗科目 (卫医发〔1994〕27号)
	SystemVaccine       = NS + "CodeSystem/vaccine-cn"     // 国家免疫规划疫苗
	SystemEthnicity     = NS + "CodeSystem/gb-3304"        // GB/T 3304 民族
	SystemInsurance     = NS + "CodeSystem/insurance-type" // 医保类别 (职工/城乡居民)
)
