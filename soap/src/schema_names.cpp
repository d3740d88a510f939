// The enumerations of types.xsd (Exchange Online set, tests/schema/types.xsd)
// that request builders check arguments against. The Exchange Online set is a
// superset of the on-premises 15.2 one for all three lists, so nothing an
// on-premises server accepts is refused here. Sorted (byte order) for binary
// search. requests_test proves each list equals the schema's enumeration, so
// regenerate this file from types.xsd when the schema copy is updated.
#include "schema_names.hpp"

#include <algorithm>

namespace ews::soap::detail {
namespace {

constexpr std::string_view distinguished_folder_names_[] = {
    "adminauditlogs", "allcategorizeditems", "alltaggeditems", "archive", "archivedeleteditems",
    "archiveinbox", "archivemsgfolderroot", "archiverecoverableitemsdeletions",
    "archiverecoverableitemsdiscoveryholds", "archiverecoverableitemspurges",
    "archiverecoverableitemsroot", "archiverecoverableitemsversions", "archiveroot", "calendar",
    "conflicts", "contacts", "conversationhistory", "deleteditems", "directory", "drafts",
    "externalcontacts", "favorites", "imcontactlist", "important", "inbox", "journal", "junkemail",
    "kaizaladata", "localfailures", "mecontact", "messageingestion", "msgfolderroot", "mycontacts",
    "notes", "onedriverecylebin", "onedriveroot", "onedrivesystem", "onedrivevolume", "orionnotes",
    "outbox", "peopleconnect", "personmetadata", "publicfoldersroot", "quickcontacts",
    "recipientcache", "recoverableitemsdeletions", "recoverableitemsdiscoveryholds",
    "recoverableitemspurges", "recoverableitemsroot", "recoverableitemsversions", "root",
    "scheduled", "searchfolders", "sentitems", "serverfailures", "starred", "syncissues",
    "tagitems", "tasks", "teamchat", "teamchathistory", "teamspaceactivity", "teamspacemessaging",
    "teamspaceworkitems", "todosearch", "voicemail", "yammerdata", "yammerfeeds", "yammerinbound",
    "yammeroutbound", "yammerroot",
};

constexpr std::string_view exchange_versions_[] = {
    "Exchange2007", "Exchange2007_SP1", "Exchange2009", "Exchange2010", "Exchange2010_SP1",
    "Exchange2010_SP2", "Exchange2012", "Exchange2013", "Exchange2013_SP1", "Exchange2015",
    "Exchange2016", "V2015_10_05", "V2016_01_06", "V2016_04_13", "V2016_07_13", "V2016_10_10",
    "V2017_01_07", "V2017_04_14", "V2017_07_11", "V2017_10_09", "V2018_01_08",
};

constexpr std::string_view unindexed_field_uris_[] = {
    "abchperson:AntiLinkInfo", "abchperson:Categories", "abchperson:ContactHandles",
    "abchperson:ExchangePersonIdGuid", "abchperson:FavoriteOrder", "abchperson:PersonId",
    "abchperson:RelevanceOrder1", "abchperson:RelevanceOrder2", "booking:CustomerEmail",
    "booking:CustomerId", "booking:CustomerName", "booking:CustomerPhone", "booking:ServiceIds",
    "booking:StaffIds", "booking:StaffInitials", "calendar:AdjacentMeetingCount",
    "calendar:AdjacentMeetings", "calendar:AllowNewTimeProposal", "calendar:AppointmentReplyTime",
    "calendar:AppointmentSequenceNumber", "calendar:AppointmentState",
    "calendar:CalendarActivityData", "calendar:CalendarItemType", "calendar:ConferenceType",
    "calendar:ConflictingMeetingCount", "calendar:ConflictingMeetings", "calendar:DateTimeStamp",
    "calendar:DeletedOccurrences", "calendar:DoNotForwardMeeting", "calendar:Duration",
    "calendar:End", "calendar:EndTimeZone", "calendar:EndTimeZoneId", "calendar:EndWallClock",
    "calendar:EnhancedLocation", "calendar:FirstOccurrence", "calendar:InboxReminders",
    "calendar:IsAllDayEvent", "calendar:IsCancelled", "calendar:IsMeeting",
    "calendar:IsOnlineMeeting", "calendar:IsOrganizer", "calendar:IsRecurring",
    "calendar:IsResponseRequested", "calendar:JoinOnlineMeetingUrl", "calendar:LastOccurrence",
    "calendar:LegacyFreeBusyStatus", "calendar:Location", "calendar:MeetingRequestWasSent",
    "calendar:MeetingTimeZone", "calendar:MeetingWorkspaceUrl", "calendar:ModifiedOccurrences",
    "calendar:MyResponseType", "calendar:NetShowUrl", "calendar:OnlineMeetingSettings",
    "calendar:OptionalAttendees", "calendar:Organizer", "calendar:OriginalStart",
    "calendar:Recurrence", "calendar:RecurrenceId", "calendar:RequiredAttendees",
    "calendar:Resources", "calendar:Start", "calendar:StartTimeZone", "calendar:StartTimeZoneId",
    "calendar:StartWallClock", "calendar:TimeZone", "calendar:UID", "calendar:When",
    "contacts:AbchContactId", "contacts:AbchEmailAddresses", "contacts:AccountName",
    "contacts:Alias", "contacts:AssistantName", "contacts:Birthday", "contacts:BusinessHomePage",
    "contacts:Children", "contacts:Cid", "contacts:Comment", "contacts:Companies",
    "contacts:CompanyName", "contacts:CompleteName", "contacts:ContactShortId",
    "contacts:ContactSource", "contacts:ContactType", "contacts:ConversationGuid",
    "contacts:CreatedBy", "contacts:Culture", "contacts:Department", "contacts:DirectReports",
    "contacts:DirectoryId", "contacts:DisplayName", "contacts:EmailAddresses", "contacts:FileAs",
    "contacts:FileAsMapping", "contacts:Gender", "contacts:Generation", "contacts:GivenName",
    "contacts:HasPicture", "contacts:HidePresenceAndProfile", "contacts:ImAddresses",
    "contacts:ImMri", "contacts:Initials", "contacts:InviteFree", "contacts:IsAutoUpdateDisabled",
    "contacts:IsHidden", "contacts:IsMessengerEnabled", "contacts:IsPendingOutbound",
    "contacts:IsPrivate", "contacts:JobTitle", "contacts:MSExchangeCertificate", "contacts:Manager",
    "contacts:ManagerMailbox", "contacts:MiddleName", "contacts:Mileage",
    "contacts:MobileIMEnabled", "contacts:Mris", "contacts:Nickname",
    "contacts:NotInBirthdayCalendar", "contacts:Notes", "contacts:ObjectId",
    "contacts:OfficeLocation", "contacts:OtherMri", "contacts:PartnerNetworkProfilePhotoUrl",
    "contacts:PartnerNetworkThumbnailPhotoUrl", "contacts:PassportId", "contacts:PersonId",
    "contacts:PhoneNumbers", "contacts:PhoneticFirstName", "contacts:PhoneticFullName",
    "contacts:PhoneticLastName", "contacts:Photo", "contacts:PhysicalAddresses",
    "contacts:PostalAddressIndex", "contacts:PresenceTrustLevel", "contacts:Profession",
    "contacts:ProfileLastChanged", "contacts:ShellContactType", "contacts:SkypeAuthCertificate",
    "contacts:SkypeContext", "contacts:SkypeId", "contacts:SkypeRelationship", "contacts:SourceId",
    "contacts:SpouseName", "contacts:SupportGroupFeeds", "contacts:Surname", "contacts:TrustLevel",
    "contacts:UnifiedInbox", "contacts:Urls", "contacts:UserSMIMECertificate",
    "contacts:UserTileHash", "contacts:WeddingAnniversary", "contacts:Wlid", "contacts:XboxLiveTag",
    "contacts:YomiNickname", "distributionlist:Members", "folder:ArchiveTag",
    "folder:ChildFolderCount", "folder:DisplayName", "folder:DistinguishedFolderId",
    "folder:EffectiveRights", "folder:FolderClass", "folder:FolderId",
    "folder:ManagedFolderInformation", "folder:ParentFolderId", "folder:PermissionSet",
    "folder:PolicyTag", "folder:ReplicaList", "folder:SearchParameters",
    "folder:SharingEffectiveRights", "folder:TotalCount", "folder:UnreadCount",
    "insight:AppContexts", "insight:ApplicationsIds", "insight:EndTimeUtc", "insight:InsightId",
    "insight:StartTimeUtc", "insight:Status", "insight:SuggestedActions", "insight:Text",
    "insight:Type", "insight:Version", "item:AppliedHashtags", "item:AppliedHashtagsPreview",
    "item:ArchiveTag", "item:AtAllMention", "item:Attachments", "item:BlockStatus", "item:Body",
    "item:CanDelete", "item:Categories", "item:ConversationId", "item:Culture",
    "item:DateTimeCreated", "item:DateTimeReceived", "item:DateTimeSent", "item:DisplayBcc",
    "item:DisplayCc", "item:DisplayTo", "item:EffectiveRights", "item:EntityExtractionResult",
    "item:FirstBody", "item:Flag", "item:HasAttachments", "item:HasBlockedImages", "item:Hashtags",
    "item:IconIndex", "item:Importance", "item:InReplyTo", "item:InferenceClassification",
    "item:InstanceKey", "item:InternetMessageHeaders", "item:IsAssociated", "item:IsClutter",
    "item:IsDraft", "item:IsFromMe", "item:IsResend", "item:IsSubmitted", "item:IsUnmodified",
    "item:ItemClass", "item:ItemId", "item:LastModifiedName", "item:LastModifiedTime", "item:Likes",
    "item:LikesPreview", "item:MentionedMe", "item:Mentions", "item:MentionsEx",
    "item:MentionsPreview", "item:MimeContent", "item:MimeContentUTF8", "item:NormalizedBody",
    "item:ParentFolderId", "item:PendingSocialActivityTagIds", "item:PolicyTag",
    "item:PredictedActionReasons", "item:Preview", "item:ReminderDueBy", "item:ReminderIsSet",
    "item:ReminderMinutesBeforeStart", "item:ReminderNextTime", "item:ResponseObjects",
    "item:RetentionDate", "item:RightsManagementLicenseData", "item:Sensitivity", "item:Size",
    "item:StoreEntryId", "item:Subject", "item:TextBody", "item:UniqueBody",
    "item:WebClientEditFormQueryString", "item:WebClientReadFormQueryString",
    "meeting:AssociatedCalendarItemId", "meeting:DoNotForwardMeeting", "meeting:HasBeenProcessed",
    "meeting:IsDelegated", "meeting:IsOutOfDate", "meeting:ProposedEnd", "meeting:ProposedStart",
    "meeting:ResponseType", "meetingRequest:ChangeHighlights",
    "meetingRequest:IntendedFreeBusyStatus", "meetingRequest:MeetingRequestType",
    "message:ApprovalRequestData", "message:BccRecipients", "message:CcRecipients",
    "message:ConversationIndex", "message:ConversationTopic", "message:From",
    "message:InternetMessageId", "message:IsDeliveryReceiptRequested", "message:IsRead",
    "message:IsReadReceiptRequested", "message:IsResponseRequested", "message:MessageSafety",
    "message:PublishedCalendarItemIcs", "message:PublishedCalendarItemName", "message:ReceivedBy",
    "message:ReceivedRepresenting", "message:References", "message:ReminderMessageData",
    "message:ReplyTo", "message:Sender", "message:ToRecipients", "message:VotingInformation",
    "network:AccountName", "network:AutoLinkError", "network:AutoLinkSuccess",
    "network:ClientPublishSecret", "network:ClientToken", "network:ClientToken2",
    "network:ContactSyncError", "network:ContactSyncSuccess", "network:DisplayName",
    "network:DomainId", "network:DomainTag", "network:ErrorOffers", "network:FirstAuthErrorDates",
    "network:IsDefault", "network:LastVersionSaved", "network:LastWelcomeContact", "network:Offers",
    "network:ProfileUrl", "network:PsaLastChanged", "network:RefreshToken2",
    "network:RefreshTokenExpiry2", "network:RejectedOffers", "network:SessionHandle",
    "network:Settings", "network:SourceEntryID", "network:SyncEnabled",
    "network:TokenRefreshLastAttempted", "network:TokenRefreshLastCompleted", "network:UserEmail",
    "network:UserTileUrl", "person:Alias", "person:Birthday", "person:CompanyProfile",
    "person:CurrentJob", "person:CurrentLocation", "person:Department", "person:DirectReports",
    "person:EmailAddress", "person:FullName", "person:GivenName", "person:Headline",
    "person:Hometown", "person:Insights", "person:LinkedInProfileLink", "person:ManagementChain",
    "person:MutualConnections", "person:MutualManager", "person:Office", "person:Peers",
    "person:PhoneNumber", "person:ProfessionalBiography", "person:SMSNumber", "person:Skills",
    "person:Surname", "person:TeamSize", "person:Title", "person:UserProfilePicture",
    "postitem:PostedTime", "rolemember:DisplayName", "rolemember:MemberId", "rolemember:MemberType",
    "sharingMessage:SharingMessageAction", "task:ActualWork", "task:AssignedTime",
    "task:BillingInformation", "task:ChangeCount", "task:Companies", "task:CompleteDate",
    "task:Contacts", "task:DelegationState", "task:Delegator", "task:DueDate",
    "task:IsAssignmentEditable", "task:IsComplete", "task:IsRecurring", "task:IsTeamTask",
    "task:Mileage", "task:Owner", "task:PercentComplete", "task:Recurrence", "task:StartDate",
    "task:Status", "task:StatusDescription", "task:TotalWork",
};

template <std::size_t N>
constexpr name_list as_list(const std::string_view (&a)[N]) noexcept {
  return {a, N};
}

}  // namespace

bool name_list::contains(std::string_view name) const noexcept {
  return std::binary_search(begin(), end(), name);
}

name_list distinguished_folder_names() noexcept { return as_list(distinguished_folder_names_); }
name_list exchange_versions() noexcept { return as_list(exchange_versions_); }
name_list unindexed_field_uris() noexcept { return as_list(unindexed_field_uris_); }

}  // namespace ews::soap::detail
